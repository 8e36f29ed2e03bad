//! What must not break it: source faults, hostile input, `kill -9` (and a poller's host
//! dying), secrets.

mod failover;
mod faults;
mod hostile;
mod kill;
mod secrets;
