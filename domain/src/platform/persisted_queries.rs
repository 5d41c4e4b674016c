//! The texts of automatic persisted queries (Apollo's protocol), shared between api
//! replicas through Redis: a client registers a query with one replica and sends only
//! its hash to any other. Without Redis each process keeps its own (the api's document
//! cache); a replica that does not know a hash answers `PersistedQueryNotFound` and the
//! client sends the text again, so losing this store costs a round trip, never a
//! request.

use redis::AsyncCommands;
use std::time::Duration;
use tokio::sync::OnceCell;

use crate::Result;
use crate::platform::redis_client::{Connection, Patience, Redis};

/// How long a registered query stays shared after its last registration.
const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);

/// Where queries are shared: nowhere (one process), or Redis.
pub struct PersistedQueries {
    redis: Option<Shared>,
}

struct Shared {
    redis: Redis,
    prefix: String,
    conn: OnceCell<Connection>,
}

impl PersistedQueries {
    /// Queries kept by each process alone.
    pub fn local() -> Self {
        PersistedQueries { redis: None }
    }

    /// Queries shared through Redis (`prefix` keeps deployments apart).
    pub fn redis(redis: &Redis, prefix: &str) -> Self {
        let redis = redis.clone();
        PersistedQueries { redis: Some(Shared { redis, prefix: prefix.to_owned(), conn: OnceCell::new() }) }
    }

    /// The text registered under `hash` (64 lower-case hex digits) by any replica;
    /// `None` when none did, when it expired, or when Redis cannot be reached.
    pub async fn get(&self, hash: &str) -> Option<String> {
        let shared = self.redis.as_ref()?;
        let found: Result<Option<String>, redis::RedisError> = async {
            let mut conn = shared.connection().await?;
            conn.get(shared.key(hash)).await
        }
        .await;
        found.unwrap_or_else(|error| {
            tracing::warn!(error = %crate::platform::error::chain(&error), "persisted queries: Redis unreachable; the client will send the text again");
            None
        })
    }

    /// Shares `text` under `hash` (the caller checked that it is the text's SHA-256).
    pub async fn put(&self, hash: &str, text: &str) {
        let Some(shared) = self.redis.as_ref() else { return };
        let stored: Result<(), redis::RedisError> = async {
            let mut conn = shared.connection().await?;
            conn.set_ex(shared.key(hash), text, KEPT_FOR.as_secs()).await
        }
        .await;
        if let Err(error) = stored {
            tracing::warn!(error = %crate::platform::error::chain(&error), "persisted queries: could not share a query through Redis");
        }
    }
}

impl Shared {
    fn key(&self, hash: &str) -> String {
        format!("{}:apq:{hash}", self.prefix)
    }

    async fn connection(&self) -> Result<Connection, redis::RedisError> {
        let conn = self
            .conn
            // A miss costs the client one round trip: better than holding its request.
            .get_or_try_init(|| self.redis.connect(Patience::QUICK))
            .await?;
        Ok(conn.clone())
    }
}
