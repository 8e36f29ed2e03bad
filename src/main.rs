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
    end_on_panic();
    tablestat::cli::main()
}

/// A panic anywhere ends the process once its report is out, the exit code the documented
/// one. Tasks run on one thread and tokio would catch a task's panic and carry on: a board
/// without its poller, holding the lease, ignoring `q`. The board's terminal guard, installed
/// later, chains before this and restores the terminal first; a lease held by a process that
/// has ended is taken over at once on the same host.
fn end_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(i32::from(tablestat::cli::EXIT_INTERNAL));
    }));
}
