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

/// Checks the database and, when configured, Redis (each within two seconds).
pub async fn readiness(services: &Services) -> Readiness {
    let timeout = Duration::from_secs(2);
    let database = match tokio::time::timeout(timeout, crate::db::ping(&services.db)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    };
    let queue = match &services.config.redis_url {
        None => Ok("in-process".to_owned()),
        Some(_) => match tokio::time::timeout(timeout, services.queue.ping()).await {
            Ok(Ok(())) => Ok("ok".to_owned()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".into()),
        },
    };
    Readiness {
        ready: database.is_ok() && queue.is_ok(),
        database: database.map(|()| "ok".to_owned()).unwrap_or_else(|e| format!("error: {e}")),
        queue: queue.unwrap_or_else(|e| format!("error: {e}")),
    }
}
