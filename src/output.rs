//! Writing what a command prints on stdout. A reader that went away is a [`Failure`] of its
//! own ([`Failure::closed_pipe`]), handled once in `main`: no panic, no process exit here.

use std::io::Write;

use crate::failure::{EXIT_IO, Failure};

/// Writes `text` to stdout as it is.
pub fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::closed_pipe()
        } else {
            Failure::new(EXIT_IO, format!("cannot write the output: {e}"))
        }
    })
}

/// Writes one line.
pub fn line(text: impl std::fmt::Display) -> Result<(), Failure> {
    emit(&format!("{text}\n"))
}
