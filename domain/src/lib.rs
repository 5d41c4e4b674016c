//! Vigie's domain: entities, services, configuration and errors, shared by the `api`
//! and `worker` crates (which never depend on each other).
//!
//! Services take an [`Actor`] (the authenticated caller) and scope every query by its
//! agency: a service cannot be called without saying whose data it touches.

pub mod accounts;
pub mod admin;
pub mod agencies;
pub mod api_keys;
#[cfg(test)]
mod architecture;
pub mod brands;
pub mod calendar;
pub mod competition;
pub mod connections;
pub mod crises;
pub mod demo;
pub mod entities;
#[cfg(any(test, feature = "testing"))]
pub mod fuzzing;
pub mod influencers;
pub mod members;
pub mod mentions;
pub mod nodes;
pub mod notifications;
pub mod platform;
pub mod relationships;
pub mod reports;
pub mod scoring;
pub mod shares;
pub mod sla;
pub mod sources;
pub mod webhooks;

use std::sync::Arc;

use platform::{auth, bus, db, jobs, mail, outbound, persisted_queries, queue, ratelimit};

pub use platform::auth::{Actor, Role, System};
pub use platform::config::Config;
pub use platform::error::{Error, Result};
pub use platform::network::Network;

/// Every job Vigie runs, each feature registering its own: what the workers (and the
/// api's embedded runtime) serve. The platform's runtime knows no feature; this is where
/// they are wired to it.
pub fn job_registry() -> jobs::Registry {
    let mut registry = jobs::Registry::default();
    crate::platform::mail::register_jobs(&mut registry);
    crate::mentions::pipeline::register_jobs(&mut registry);
    crate::mentions::retention::register_jobs(&mut registry);
    crate::sources::register_jobs(&mut registry);
    crate::connections::register_jobs(&mut registry);
    crate::crises::detect::register_jobs(&mut registry);
    crate::webhooks::register_jobs(&mut registry);
    crate::notifications::register_jobs(&mut registry);
    crate::relationships::register_jobs(&mut registry);
    crate::sla::tickets::register_jobs(&mut registry);
    crate::sla::replies::register_jobs(&mut registry);
    crate::reports::digests::register_jobs(&mut registry);
    crate::platform::retention::register_jobs(&mut registry);
    registry
}

/// The shared handles every service needs, built once at start-up.
#[derive(Clone)]
pub struct Services {
    pub db: sea_orm::DatabaseConnection,
    pub config: Arc<Config>,
    pub tokens: auth::tokens::TokenKeys,
    pub mailer: mail::Mailer,
    /// The job queue: Redis with `REDIS_URL`, in-process otherwise.
    pub(crate) queue: Arc<dyn queue::Queue>,
    /// Counters of the job runtime running in this process, if any.
    pub job_metrics: Arc<jobs::metrics::JobMetrics>,
    /// Outgoing HTTP (collectors, webhooks), guarded against private addresses.
    pub http: outbound::Http,
    /// Live notices for subscriptions, across processes.
    pub bus: bus::Bus,
    /// Request quotas, shared by the api replicas through Redis when there is one.
    pub limiter: Arc<ratelimit::RateLimiter>,
    /// Automatic persisted queries shared between api replicas.
    pub persisted_queries: Arc<persisted_queries::PersistedQueries>,
    /// Callers verified recently (see [`auth::callers`]).
    pub callers: Arc<auth::callers::Callers>,
    /// Password hashing, bounded (`VIGIE_PASSWORD_CONCURRENCY`).
    pub passwords: auth::passwords::PasswordWork,
}

impl Services {
    /// The job queue, for tests and benchmarks that drive it by hand; everything else
    /// enqueues through the domain, which decides what runs as the system.
    #[cfg(feature = "testing")]
    pub fn queue(&self) -> &Arc<dyn queue::Queue> {
        &self.queue
    }

    /// Connects to the database (an api process's pool, applying pending migrations)
    /// and to the queue.
    pub async fn start(config: Arc<Config>) -> Result<Self> {
        let db = db::connect(&config.database_url, config.api_pool_size()).await?;
        if config.migrate_on_start {
            db::migrate(&db).await?;
        } else {
            db::check_schema(&db).await?;
        }
        Self::connect(config, db).await
    }

    /// Builds the services over an already migrated database connection.
    pub async fn connect(config: Arc<Config>, db: sea_orm::DatabaseConnection) -> Result<Self> {
        let queue: Arc<dyn queue::Queue> = match &config.redis()? {
            Some(redis) => Arc::new(queue::redis::RedisQueue::connect(redis, &config.queue_prefix).await?),
            None => Arc::new(queue::memory::MemoryQueue::new()),
        };
        Self::with_queue(config, db, queue)
    }

    /// Builds the services over a given queue (tests share one between runtimes).
    pub fn with_queue(
        config: Arc<Config>,
        db: sea_orm::DatabaseConnection,
        queue: Arc<dyn queue::Queue>,
    ) -> Result<Self> {
        let tokens = auth::tokens::TokenKeys::new(&config.jwt_secret, config.access_token_ttl);
        let mailer = mail::Mailer::new(&config)?;
        let mut http = outbound::Http::new(config.allow_private_webhooks)?;
        if config.demo {
            http = http.exempting(&demo::receiver::url(&config.public_url))?;
        }
        let (bus, limiter, persisted_queries) = match &config.redis()? {
            Some(redis) => (
                bus::Bus::redis(redis, &config.queue_prefix),
                ratelimit::RateLimiter::redis(redis, &config.queue_prefix),
                persisted_queries::PersistedQueries::redis(redis, &config.queue_prefix),
            ),
            None => (bus::Bus::local(), ratelimit::RateLimiter::memory(), persisted_queries::PersistedQueries::local()),
        };
        let callers = Arc::new(auth::callers::Callers::new(bus.clone(), config.caller_cache));
        Ok(Services {
            passwords: auth::passwords::PasswordWork::new(config.password_concurrency),
            callers,
            db,
            config,
            tokens,
            mailer,
            queue,
            job_metrics: Default::default(),
            http,
            bus,
            limiter: Arc::new(limiter),
            persisted_queries: Arc::new(persisted_queries),
        })
    }
}

/// The SHA-256 of `text`, in lower-case hex.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new time-ordered identifier (UUIDv7): ids sort by creation, which keyset
/// pagination relies on.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

tokio::task_local! {
    /// A time that [`now`] reads instead of the clock, within [`simulated`].
    static SIMULATED_NOW: std::cell::Cell<Option<chrono::DateTime<chrono::Utc>>>;
}

/// The current time, truncated to microseconds so that values read back from either
/// database compare equal to what was written; within [`simulated`] (the demo's
/// history), the simulated time.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    SIMULATED_NOW.try_with(std::cell::Cell::get).ok().flatten().unwrap_or_else(|| Utc::now().trunc_subsecs(6))
}

/// Runs `work` with [`now`] reading `start`, then what [`set_simulated_now`] sets: the
/// demo writes weeks of history through the services as they would have written it.
/// Only this task sees it; jobs it enqueues run on the real clock.
pub(crate) async fn simulated<F: std::future::Future>(start: chrono::DateTime<chrono::Utc>, work: F) -> F::Output {
    SIMULATED_NOW.scope(std::cell::Cell::new(Some(start)), work).await
}

/// Whether [`now`] reads a simulated time: the replay then runs the follow-up jobs
/// (influence refresh, detection) itself, at the simulated times, instead of queueing
/// them for the real clock.
pub(crate) fn simulating() -> bool {
    SIMULATED_NOW.try_with(std::cell::Cell::get).ok().flatten().is_some()
}

/// Moves the simulated time of [`simulated`]; outside it, does nothing.
pub(crate) fn set_simulated_now(at: chrono::DateTime<chrono::Utc>) {
    let _ = SIMULATED_NOW.try_with(|now| now.set(Some(at)));
}
