//! History on real SQLite files, and the whole pipeline (engine -> store -> status document) in one process.

mod history;
mod pipeline;
