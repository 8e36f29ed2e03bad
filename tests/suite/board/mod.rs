//! The board: views on a `TestBackend`, the real binary in tmux, many viewers beside one poller.

mod terminal;
mod viewers;
mod views;
