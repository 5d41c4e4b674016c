//! Waiting for something asynchronous, the one way tests do.

/// Waits for something asynchronous: polls `check` every 50 ms until it gives `Ok`,
/// and fails the test after `limit` with `what` and the last state `check` reported.
/// The one way tests wait, so none sleeps a guessed time.
pub async fn eventually<T>(
    what: &str,
    limit: std::time::Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        // A check that hangs (a server that accepts and never answers) fails too.
        let left =
            deadline.saturating_duration_since(std::time::Instant::now()).max(std::time::Duration::from_millis(50));
        let Ok(checked) = tokio::time::timeout(left, check()).await else {
            panic!("timed out after {limit:?} waiting for {what}; the last check did not return")
        };
        match checked {
            Ok(value) => return value,
            Err(state) if std::time::Instant::now() >= deadline => {
                panic!("timed out after {limit:?} waiting for {what}; last seen: {state}")
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

/// [`eventually`] for a condition with no state worth showing.
pub async fn until(what: &str, limit: std::time::Duration, mut check: impl AsyncFnMut() -> bool) {
    eventually(what, limit, async || if check().await { Ok(()) } else { Err("not yet".into()) }).await
}
