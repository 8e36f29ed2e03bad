//! What must not break it: source faults, hostile input, `kill -9`, secrets.

mod faults;
mod hostile;
mod kill;
mod secrets;
