//! Writing what a command prints on stdout. A reader that went away is a [`Failure`] of its
//! own ([`Failure::closed_pipe`]), handled once in `main`: no panic, no process exit here.

use std::io::Write;

use crate::failure::{EXIT_IO, Failure};

/// Writes `text` to stdout as it is.
pub fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(write_failure)
}

/// Writes `value` to stdout as indented JSON and a newline, streamed: the status of 20,000
/// products is 31 MB, which a string first would hold and copy twice (75 ms).
pub fn json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(write_failure)
}

fn write_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::closed_pipe()
    } else {
        Failure::new(EXIT_IO, format!("cannot write the output: {e}"))
    }
}

/// Writes one line.
pub fn line(text: impl std::fmt::Display) -> Result<(), Failure> {
    emit(&format!("{text}\n"))
}
