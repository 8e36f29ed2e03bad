//! Polling: one poll of every source for a set of products ([`Engine`]), and the poller
//! service that runs it on schedule under the database lease ([`service`]).

mod engine;
pub mod service;

pub use crate::evaluate::{Checked, Prior};
pub use engine::{Engine, PollResult};
