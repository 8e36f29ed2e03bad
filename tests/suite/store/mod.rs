//! History on real SQLite files and PostgreSQL databases (each case on both), and the whole
//! pipeline (engine -> store -> status document) in one process.

mod backends;
mod history;
mod pipeline;
