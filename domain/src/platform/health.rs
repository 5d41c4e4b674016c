//! Readiness: can this process reach what it depends on?

use serde::Serialize;
use std::time::Duration;

use crate::Services;

/// The state of each dependency, as shown by `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok`, or `error: unavailable`.
    #[schema(example = "ok")]
    pub database: String,
    /// `ok`, `error: unavailable`, or `in-process` when no Redis is configured.
    #[schema(example = "ok")]
    pub queue: String,
    pub ready: bool,
}

impl Readiness {
    /// Nothing could be checked.
    pub fn down() -> Self {
        Readiness { database: UNAVAILABLE.into(), queue: UNAVAILABLE.into(), ready: false }
    }
}

/// What `/readyz` says of a dependency it cannot reach.
pub const UNAVAILABLE: &str = "error: unavailable";

/// Checks the database and, when configured, Redis (each within two seconds).
pub async fn readiness(services: &Services) -> Readiness {
    let timeout = Duration::from_secs(2);
    let database = match tokio::time::timeout(timeout, crate::platform::db::ping(&services.db)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.chain()),
        Err(_) => Err("timed out".to_owned()),
    };
    let queue = match &services.config.redis_url {
        None => Ok("in-process".to_owned()),
        Some(_) => match tokio::time::timeout(timeout, services.queue.ping()).await {
            Ok(Ok(())) => Ok("ok".to_owned()),
            Ok(Err(e)) => Err(e.chain()),
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

/// Labels of `vigie_build_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct BuildLabels {
    pub version: &'static str,
    pub process: &'static str,
}

/// Labels of the database pool gauge: `idle` or `busy` connections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct PoolLabels {
    pub state: &'static str,
}

/// What every process exposes besides its own work: which build runs (`vigie_build_info`
/// is 1, labelled with the version) and how its database pool is used, read at each
/// scrape.
pub struct ProcessMetrics {
    build: prometheus_client::metrics::family::Family<BuildLabels, prometheus_client::metrics::gauge::Gauge>,
    pool: prometheus_client::metrics::family::Family<PoolLabels, prometheus_client::metrics::gauge::Gauge>,
}

impl ProcessMetrics {
    /// Registers the metrics of `process` (`api` or `worker`).
    pub fn register(registry: &mut prometheus_client::registry::Registry, process: &'static str) -> Self {
        let metrics = ProcessMetrics { build: Default::default(), pool: Default::default() };
        metrics.build.get_or_create(&BuildLabels { version: env!("CARGO_PKG_VERSION"), process }).set(1);
        registry.register("build_info", "The running build (always 1)", metrics.build.clone());
        registry.register("db_pool_connections", "Database pool connections, idle or busy", metrics.pool.clone());
        metrics
    }

    /// Reads the pool's state now, before a scrape is answered.
    pub fn refresh(&self, db: &sea_orm::DatabaseConnection) {
        let (size, idle) = match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let pool = db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => {
                let pool = db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
        };
        let idle = i64::try_from(idle).unwrap_or(i64::MAX);
        self.pool.get_or_create(&PoolLabels { state: "idle" }).set(idle);
        // Two reads, not one snapshot: a connection returned in between must not count
        // as minus one.
        self.pool.get_or_create(&PoolLabels { state: "busy" }).set((i64::from(size) - idle).max(0));
    }
}
