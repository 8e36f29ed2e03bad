//! Waiting for the signals that mean "stop": Ctrl-C, SIGTERM (service managers), SIGHUP (a
//! dropped SSH session) and SIGQUIT (Ctrl-\\, which would otherwise leave the board's
//! terminal in the alternate screen with mouse reporting on).

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
    let mut quit = signal(SignalKind::quit()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = next(&mut term) => {}
        _ = next(&mut hup) => {}
        _ = next(&mut quit) => {}
    }
}

#[cfg(not(unix))]
pub async fn wait_for_shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
