//! Readiness: can this process reach what it depends on?

use serde::Serialize;
use std::time::Duration;

use crate::Services;

/// The state of each dependency, as shown by `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub database: String,
    /// `in-process` when no Redis is configured.
    pub queue: String,
    pub ready: bool,
}

/// What `/readyz` says of a dependency it cannot reach.
pub const UNAVAILABLE: &str = "error: unavailable";

/// Checks the database and, when configured, Redis (each within two seconds).
pub async fn readiness(services: &Services) -> Readiness {
    let timeout = Duration::from_secs(2);
    let database = match tokio::time::timeout(timeout, crate::db::ping(&services.db)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let queue = match &services.config.redis_url {
        None => Ok("in-process".to_owned()),
        Some(_) => match tokio::time::timeout(timeout, services.queue.ping()).await {
            Ok(Ok(())) => Ok("ok".to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        },
    };
    // The raw errors name hosts, users and versions: they go to the log, not to whoever
    // polls this (often unauthenticated) endpoint.
    if let Err(error) = &database {
        tracing::warn!(%error, "readiness: database unreachable");
    }
    if let Err(error) = &queue {
        tracing::warn!(%error, "readiness: Redis unreachable");
    }
    Readiness {
        ready: database.is_ok() && queue.is_ok(),
        database: if database.is_ok() { "ok" } else { UNAVAILABLE }.to_owned(),
        queue: queue.unwrap_or_else(|_| UNAVAILABLE.to_owned()),
    }
}
