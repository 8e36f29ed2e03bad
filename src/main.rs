//! The `tablestat` binary: everything lives in the library; this only hands over.

fn main() -> std::process::ExitCode {
    // Readable panic reports; the terminal guard of the board chains onto this hook.
    let _ = color_eyre::install();
    tablestat::cli::main()
}
