//! Every integration test in one binary, laid out along the data's path: the rulebook,
//! the sources, the store, what is published, the board, the command line, and what must
//! not break it. One binary links once (28 did, and once filled a CI disk); the test of a
//! rule is found under the rule's name. Tests that need tmux or Chromium are ignored where
//! those are missing and say so; `cargo test -- --include-ignored` runs them.

mod common;

mod board;
mod cli;
mod publish;
mod resilience;
mod rules;
mod sources;
mod store;
