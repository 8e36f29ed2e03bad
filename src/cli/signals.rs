//! Waiting for the signals that mean "stop": Ctrl-C, SIGTERM (service managers) and
//! SIGHUP (a dropped SSH session).

#[cfg(unix)]
pub async fn wait_for_shutdown() {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn next(signal: &mut Option<Signal>) {
        match signal {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = next(&mut term) => {}
        _ = next(&mut hup) => {}
    }
}

#[cfg(not(unix))]
pub async fn wait_for_shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
