//! Why a command failed, carried up to `main`, which alone turns it into an exit code
//! and decides what to print. Nothing below `main` ends the process.
//!
//! Exit codes: 0 ok, 1 degraded, 2 down, 3 unknown (status and poll, after the
//! monitoring-plugin convention); 64 usage, 66 no config file or history, 69 a source
//! unreachable, 70 internal error, 74 I/O error, 75 another poller holds the database,
//! 78 invalid config.

pub const EXIT_USAGE: u8 = 64;
pub const EXIT_NO_CONFIG: u8 = 66;
pub const EXIT_UNAVAILABLE: u8 = 69;
pub const EXIT_INTERNAL: u8 = 70;
pub const EXIT_IO: u8 = 74;
pub const EXIT_TEMPFAIL: u8 = 75;
pub const EXIT_CONFIG: u8 = 78;

/// A command's failure: one line for people, and the exit code for scripts.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    /// The reader of our output went away (`tablestat status --json | head -1`): the command
    /// ends quietly and successfully, as other command-line tools do.
    pub fn closed_pipe() -> Failure {
        Failure { code: 0, message: String::new() }
    }

    /// Whether there is nothing to tell people (a closed pipe).
    pub fn is_quiet(&self) -> bool {
        self.message.is_empty()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
