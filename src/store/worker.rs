//! The store on its own thread: async code sends it closures and awaits the answers, so
//! SQLite never blocks an async worker and there is exactly one connection per process.

use std::sync::mpsc;

use super::Store;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cheap, cloneable handle to the store thread.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: mpsc::Sender<Job>,
}

/// The store thread has stopped (it panicked, or the process is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the history database thread has stopped")]
pub struct StoreGone;

impl StoreHandle {
    /// Moves the store to a thread of its own. It stops when every handle is dropped.
    pub fn spawn(mut store: Store) -> std::io::Result<StoreHandle> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        std::thread::Builder::new().name("tablestat-store".into()).spawn(move || {
            for job in inbox {
                job(&mut store);
            }
        })?;
        Ok(StoreHandle { jobs })
    }

    /// Opens the store a config names on a thread of its own (a PostgreSQL client may not
    /// start inside the async runtime, and SQLite's work belongs off it).
    pub async fn open(location: crate::config::StoreLocation, base: std::path::PathBuf) -> super::Result<StoreHandle> {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (opened, answer) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new().name("tablestat-store".into()).spawn(move || {
            let mut store = match Store::open_at(&location, &base) {
                Ok(store) => {
                    let _ = opened.send(Ok(()));
                    store
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return;
                }
            };
            for job in inbox {
                job(&mut store);
            }
        });
        let gone = |why: String| super::StoreError::Io { path: "the history database thread".into(), message: why };
        thread.map_err(|e| gone(e.to_string()))?;
        answer.await.map_err(|_| gone("stopped while opening".into()))??;
        Ok(StoreHandle { jobs })
    }

    /// Runs `work` on the store thread and returns its result.
    pub async fn call<R, F>(&self, work: F) -> Result<R, StoreGone>
    where
        R: Send + 'static,
        F: FnOnce(&mut Store) -> R + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = reply.send(work(store));
            }))
            .map_err(|_| StoreGone)?;
        answer.await.map_err(|_| StoreGone)
    }
}
