//! The `tablestat` binary: everything lives in the library; this only hands over.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Readable panic reports; the terminal guard of the board chains onto this hook.
    let _ = color_eyre::install();
    match std::panic::catch_unwind(tablestat::cli::main) {
        Ok(code) => code,
        // The report is printed by the hook; the exit code is the documented one.
        Err(_) => ExitCode::from(tablestat::cli::EXIT_INTERNAL),
    }
}
