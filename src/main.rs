//! The `tablestat` binary: everything lives in the library; this only hands over.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Readable panic reports; the terminal guard of the board chains onto this hook. In
    // colour only where the text output would be (a terminal, no NO_COLOR, no --no-color):
    // a report written into a file or a pipe stays plain text.
    let color = !std::env::args_os().any(|a| a == "--no-color")
        && tablestat::theme::color_wanted(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let theme = if color { color_eyre::config::Theme::dark() } else { color_eyre::config::Theme::new() };
    let _ = color_eyre::config::HookBuilder::default().theme(theme).install();
    match std::panic::catch_unwind(tablestat::cli::main) {
        Ok(code) => code,
        // The report is printed by the hook; the exit code is the documented one.
        Err(_) => ExitCode::from(tablestat::cli::EXIT_INTERNAL),
    }
}
