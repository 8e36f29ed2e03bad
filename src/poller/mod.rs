//! Polling: one poll of every source for a set of products ([`Engine`]).

mod engine;

pub use engine::{Checked, Engine, PollResult, Prior};
