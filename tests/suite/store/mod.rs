//! History on real SQLite files (and, for the modules on the database door, PostgreSQL), and the whole pipeline (engine -> store -> status document) in one process.

mod backends;
mod history;
mod pipeline;
