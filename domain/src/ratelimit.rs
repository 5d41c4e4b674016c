//! Per-tenant rate limiting: a token bucket per key (an agency, an API key's agency, a
//! client address), checked before a request does any work.
//!
//! The bucket is kept as GCRA's single "theoretical arrival time": one number per key,
//! no background refill. With `REDIS_URL` the number lives in Redis and is updated by
//! one script, so every api replica draws from the same bucket (a tenant cannot get N×
//! its quota by spreading requests over N replicas); the clock is Redis' own, so replicas
//! with skewed clocks agree. Without Redis (the embedded mode, one process) it lives in
//! memory.
//!
//! When Redis cannot be reached the limiter lets requests through: an outage of the
//! limiter must not become an outage of the api (the database still bounds the work).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::{Error, Result};

/// How many requests a key may make: up to `limit` at once, refilled at `limit` per
/// `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    /// Parses `600/min`, `20/s`, `10000/h`; `off` (or `0`) means no limit.
    pub fn parse(raw: &str) -> Option<Option<Quota>> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") || raw == "0" {
            return Some(None);
        }
        let (limit, unit) = raw.split_once('/')?;
        let limit: u32 = limit.trim().parse().ok().filter(|n| *n > 0)?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return None,
        };
        Some(Some(Quota { limit, period }))
    }

    /// The time one request's token takes to come back.
    fn interval(&self) -> Duration {
        self.period / self.limit
    }
}

/// The limits applied by the api, from the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// GraphQL requests per agency (`VIGIE_RATE_LIMIT_GRAPHQL`).
    pub graphql: Option<Quota>,
    /// Ingest requests per agency (`VIGIE_RATE_LIMIT_INGEST`).
    pub ingest: Option<Quota>,
    /// Requests without valid credentials, per client address
    /// (`VIGIE_RATE_LIMIT_ANONYMOUS`): log-in attempts, shared reports, calendar feeds.
    pub anonymous: Option<Quota>,
}

/// Advances the bucket whose theoretical arrival time is `tat` (time since an arbitrary
/// origin) at `now`. Returns the new `tat` to keep, or how long to wait.
fn gcra(tat: Option<Duration>, now: Duration, quota: Quota) -> Result<Duration, Duration> {
    let interval = quota.interval();
    let burst = interval * quota.limit;
    let new_tat = tat.unwrap_or(now).max(now) + interval;
    let ahead = new_tat - now;
    if ahead > burst { Err(ahead - burst) } else { Ok(new_tat) }
}

/// GCRA in Redis. KEYS[1]: the bucket; ARGV: interval and burst in microseconds.
/// Returns 0 when allowed, else the microseconds to wait.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local ahead = new_tat - now
if ahead > burst then return ahead - burst end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(ahead / 1000) + 1)
return 0
"#;

/// Checks and records requests against their key's bucket.
pub struct RateLimiter {
    backend: Backend,
}

enum Backend {
    Memory { origin: Instant, buckets: Mutex<HashMap<String, Duration>> },
    Redis(Box<RedisBuckets>),
}

/// The buckets of every replica, in Redis.
struct RedisBuckets {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
    script: Script,
}

/// Buckets kept in memory before idle ones are swept.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    /// An in-process limiter.
    pub fn memory() -> Self {
        RateLimiter { backend: Backend::Memory { origin: Instant::now(), buckets: Mutex::default() } }
    }

    /// A limiter shared through Redis (`prefix` keeps deployments sharing a Redis apart).
    pub fn redis(url: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url).map_err(|e| Error::Internal(format!("REDIS_URL: {e}")))?;
        Ok(RateLimiter {
            backend: Backend::Redis(Box::new(RedisBuckets {
                client,
                prefix: prefix.to_owned(),
                conn: OnceCell::new(),
                script: Script::new(GCRA),
            })),
        })
    }

    /// Takes one token from `key`'s bucket, or fails with [`Error::RateLimited`] saying
    /// when to come back. `None` quota: no limit.
    pub async fn check(&self, key: &str, quota: Option<Quota>) -> Result<()> {
        let Some(quota) = quota else { return Ok(()) };
        let wait = match &self.backend {
            Backend::Memory { origin, buckets } => {
                let now = origin.elapsed();
                let mut buckets = buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if buckets.len() >= SWEEP_AT {
                    buckets.retain(|_, tat| *tat > now);
                }
                match gcra(buckets.get(key).copied(), now, quota) {
                    Ok(tat) => {
                        buckets.insert(key.to_owned(), tat);
                        None
                    }
                    Err(wait) => Some(wait),
                }
            }
            Backend::Redis(buckets) => match buckets.take(key, quota).await {
                Ok(wait) => wait,
                Err(error) => {
                    tracing::warn!(%error, key, "rate limiter unavailable; letting the request through");
                    None
                }
            },
        };
        match wait {
            None => Ok(()),
            Some(retry_after) => Err(Error::RateLimited { retry_after }),
        }
    }
}

impl RedisBuckets {
    /// Takes a token from `key`'s bucket: `Some(wait)` when it is empty.
    async fn take(&self, key: &str, quota: Quota) -> Result<Option<Duration>, redis::RedisError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                // Short timeouts: the limiter sits in front of every request, and it lets
                // requests through when Redis is slow rather than holding them.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_millis(500)))
                    .set_number_of_retries(1);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        let interval = quota.interval().as_micros() as u64;
        // One key per bucket, in its own hash slot: single-key scripts work on Redis
        // Cluster, and tenants spread over the slots.
        let wait: u64 = self
            .script
            .key(format!("{}:rl:{{{key}}}", self.prefix))
            .arg(interval)
            .arg(interval * u64::from(quota.limit))
            .invoke_async(&mut conn.clone())
            .await?;
        Ok((wait > 0).then(|| Duration::from_micros(wait)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE_PER_SECOND: Quota = Quota { limit: 3, period: Duration::from_secs(1) };

    #[test]
    fn parses_rates_and_off() {
        assert_eq!(Quota::parse("600/min"), Some(Some(Quota { limit: 600, period: Duration::from_secs(60) })));
        assert_eq!(Quota::parse(" 20/s "), Some(Some(Quota { limit: 20, period: Duration::from_secs(1) })));
        assert_eq!(Quota::parse("off"), Some(None));
        assert_eq!(Quota::parse("0"), Some(None));
        assert_eq!(Quota::parse("0/s"), None);
        assert_eq!(Quota::parse("10/day"), None);
        assert_eq!(Quota::parse("lots"), None);
    }

    #[test]
    fn gcra_allows_a_full_burst_then_one_token_per_interval() {
        let mut tat = None;
        let start = Duration::from_secs(100);
        for _ in 0..3 {
            tat = Some(gcra(tat, start, THREE_PER_SECOND).expect("within the burst"));
        }
        let wait = gcra(tat, start, THREE_PER_SECOND).expect_err("the fourth waits");
        assert!(wait > Duration::from_millis(330) && wait <= Duration::from_millis(334), "{wait:?}");
        // After one interval exactly one more request goes through.
        let later = start + Duration::from_millis(334);
        tat = Some(gcra(tat, later, THREE_PER_SECOND).expect("a token came back"));
        assert!(gcra(tat, later, THREE_PER_SECOND).is_err());
        // An idle bucket refills to the burst, not beyond.
        let idle = later + Duration::from_secs(60);
        for _ in 0..3 {
            tat = Some(gcra(tat, idle, THREE_PER_SECOND).unwrap());
        }
        assert!(gcra(tat, idle, THREE_PER_SECOND).is_err());
    }

    #[tokio::test]
    async fn memory_buckets_are_per_key() {
        let limiter = RateLimiter::memory();
        for _ in 0..3 {
            limiter.check("a", Some(THREE_PER_SECOND)).await.unwrap();
        }
        let err = limiter.check("a", Some(THREE_PER_SECOND)).await.unwrap_err();
        assert_eq!(err.code(), "RATE_LIMITED");
        limiter.check("b", Some(THREE_PER_SECOND)).await.expect("another key has its own bucket");
        limiter.check("a", None).await.expect("no quota, no limit");
    }
}
