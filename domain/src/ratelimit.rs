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
//! Credentials are the exception ([`RateLimiter::check_strict`], the account locks):
//! password guessing is exactly what an attacker would do during such an outage.
//!
//! Accounts are also throttled one by one ([`RateLimiter::account_locked`]): after
//! [`FREE_FAILURES`] failed log-ins, each further failure locks the account's log-in for
//! twice as long as the previous one (1 s, 2 s, 4 s… at most [`MAX_LOCK`]), so guessing
//! one password from many addresses is as slow as from one.

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

/// Failed log-ins an account may have before each further one locks it.
pub const FREE_FAILURES: u32 = 5;
/// Failed log-ins in a row after which the account's owner is told by email.
pub const FAILURE_BURST: u32 = 10;
/// Failures are forgotten this long after the last one (or at the next success).
pub const FAILURE_WINDOW: Duration = Duration::from_secs(3600);
/// The longest lock one failure imposes.
pub const MAX_LOCK: Duration = Duration::from_secs(900);

/// How long the `failures`-th failure in a row locks the account.
fn lock_after(failures: u32) -> Option<Duration> {
    let over = failures.checked_sub(FREE_FAILURES).filter(|over| *over > 0)?;
    Some(Duration::from_secs(1u64 << (over - 1).min(20)).min(MAX_LOCK))
}

/// Records a failure. KEYS[1]: the failure count, KEYS[2]: the lock; ARGV: the window,
/// the free failures and the longest lock, in milliseconds or counts. Returns the count.
const ACCOUNT_FAILED: &str = r#"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local over = n - tonumber(ARGV[2])
if over > 0 then
  local lock = math.min(1000 * 2 ^ math.min(over - 1, 20), tonumber(ARGV[3]))
  redis.call('SET', KEYS[2], n, 'PX', math.floor(lock))
end
return n
"#;

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
    Memory { origin: Instant, buckets: Mutex<HashMap<String, Duration>>, accounts: Mutex<HashMap<String, Failures>> },
    Redis(Box<RedisBuckets>),
}

/// An account's failed log-ins, in memory.
#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The buckets of every replica, in Redis.
struct RedisBuckets {
    client: redis::Client,
    prefix: String,
    conn: OnceCell<ConnectionManager>,
    script: Script,
    account_failed: Script,
}

/// Buckets kept in memory before idle ones are swept.
const SWEEP_AT: usize = 10_000;

impl RateLimiter {
    /// An in-process limiter.
    pub fn memory() -> Self {
        RateLimiter {
            backend: Backend::Memory { origin: Instant::now(), buckets: Mutex::default(), accounts: Mutex::default() },
        }
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
                account_failed: Script::new(ACCOUNT_FAILED),
            })),
        })
    }

    /// Takes one token from `key`'s bucket, or fails with [`Error::RateLimited`] saying
    /// when to come back. `None` quota: no limit.
    pub async fn check(&self, key: &str, quota: Option<Quota>) -> Result<()> {
        self.take(key, quota, false).await
    }

    /// [`RateLimiter::check`] that refuses when the limiter cannot be reached, for the
    /// requests that carry credentials.
    pub async fn check_strict(&self, key: &str, quota: Option<Quota>) -> Result<()> {
        self.take(key, quota, true).await
    }

    async fn take(&self, key: &str, quota: Option<Quota>, strict: bool) -> Result<()> {
        let Some(quota) = quota else { return Ok(()) };
        let wait = match &self.backend {
            Backend::Memory { origin, buckets, .. } => {
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
                Err(error) if strict => {
                    tracing::warn!(%error, key, "rate limiter unavailable; refusing a request with credentials");
                    return Err(limiter_down());
                }
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

    /// Fails with [`Error::RateLimited`] while `account`'s log-in is locked by earlier
    /// failures, and with [`Error::Unavailable`] when the limiter cannot be reached.
    pub async fn account_locked(&self, account: &str) -> Result<()> {
        let remaining = match &self.backend {
            Backend::Memory { accounts, .. } => {
                let accounts = accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                accounts
                    .get(account)
                    .and_then(|failures| failures.locked_until)
                    .and_then(|until| until.checked_duration_since(Instant::now()))
            }
            Backend::Redis(buckets) => {
                let mut conn = buckets.connection().await.map_err(|e| account_store_down(&e))?;
                let pttl: i64 = redis::cmd("PTTL")
                    .arg(buckets.account_key(account, "lock"))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| account_store_down(&e))?;
                u64::try_from(pttl).ok().filter(|ms| *ms > 0).map(Duration::from_millis)
            }
        };
        match remaining {
            Some(retry_after) => Err(Error::RateLimited { retry_after }),
            None => Ok(()),
        }
    }

    /// Records a failed log-in of `account` (locking it past [`FREE_FAILURES`]) and
    /// returns how many failures in a row it has had.
    pub async fn account_failed(&self, account: &str) -> Result<u32> {
        match &self.backend {
            Backend::Memory { accounts, .. } => {
                let mut accounts = accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                if accounts.len() >= SWEEP_AT {
                    accounts.retain(|_, failures| now.duration_since(failures.last) < FAILURE_WINDOW);
                }
                let entry =
                    accounts.entry(account.to_owned()).or_insert(Failures { count: 0, last: now, locked_until: None });
                if now.duration_since(entry.last) >= FAILURE_WINDOW {
                    entry.count = 0;
                }
                entry.count = entry.count.saturating_add(1);
                entry.last = now;
                entry.locked_until = lock_after(entry.count).map(|lock| now + lock);
                Ok(entry.count)
            }
            Backend::Redis(buckets) => {
                let mut conn = buckets.connection().await.map_err(|e| account_store_down(&e))?;
                buckets
                    .account_failed
                    .key(buckets.account_key(account, "failures"))
                    .key(buckets.account_key(account, "lock"))
                    .arg(FAILURE_WINDOW.as_millis() as u64)
                    .arg(FREE_FAILURES)
                    .arg(MAX_LOCK.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| account_store_down(&e))
            }
        }
    }

    /// Forgets `account`'s failures after a successful log-in.
    pub async fn account_succeeded(&self, account: &str) {
        match &self.backend {
            Backend::Memory { accounts, .. } => {
                accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(account);
            }
            Backend::Redis(buckets) => {
                let keys = [buckets.account_key(account, "failures"), buckets.account_key(account, "lock")];
                let deleted = match buckets.connection().await {
                    Ok(mut conn) => redis::cmd("DEL").arg(&keys).query_async::<()>(&mut conn).await,
                    Err(e) => Err(e),
                };
                if let Err(error) = deleted {
                    tracing::warn!(%error, "cannot clear an account's failed log-ins");
                }
            }
        }
    }
}

/// Credentials are refused while the limiter is down (see the module doc).
fn limiter_down() -> Error {
    Error::Unavailable("log-in is unavailable for a moment; retry shortly".into())
}

fn account_store_down(error: &redis::RedisError) -> Error {
    tracing::warn!(%error, "the log-in throttle cannot reach Redis; refusing credentials");
    limiter_down()
}

impl RedisBuckets {
    /// The connection shared by the limiter's calls.
    async fn connection(&self) -> Result<ConnectionManager, redis::RedisError> {
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
        Ok(conn.clone())
    }

    /// One of an account's keys; both share a hash slot (the scripts touch both), and
    /// the email is hashed so that no address sits in Redis.
    fn account_key(&self, account: &str, what: &str) -> String {
        format!("{}:login:{{{}}}:{what}", self.prefix, crate::auth::secrets::hash(account))
    }

    /// Takes a token from `key`'s bucket: `Some(wait)` when it is empty.
    async fn take(&self, key: &str, quota: Quota) -> Result<Option<Duration>, redis::RedisError> {
        let mut conn = self.connection().await?;
        let interval = quota.interval().as_micros() as u64;
        // One key per bucket, in its own hash slot: single-key scripts work on Redis
        // Cluster, and tenants spread over the slots.
        let wait: u64 = self
            .script
            .key(format!("{}:rl:{{{key}}}", self.prefix))
            .arg(interval)
            .arg(interval * u64::from(quota.limit))
            .invoke_async(&mut conn)
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

    #[test]
    fn locks_double_after_the_free_failures_up_to_the_cap() {
        let locks: Vec<_> = (1..=8).map(lock_after).collect();
        assert_eq!(locks[..5], [None; 5]);
        assert_eq!(locks[5..], [1, 2, 4].map(|s| Some(Duration::from_secs(s))));
        assert_eq!(lock_after(40), Some(MAX_LOCK));
        assert_eq!(lock_after(u32::MAX), Some(MAX_LOCK));
    }

    #[tokio::test]
    async fn memory_accounts_lock_after_failures_and_unlock_on_success() {
        let limiter = RateLimiter::memory();
        for n in 1..=FREE_FAILURES {
            limiter.account_locked("a@x").await.expect("free failures do not lock");
            assert_eq!(limiter.account_failed("a@x").await.unwrap(), n);
        }
        limiter.account_locked("a@x").await.unwrap();
        limiter.account_failed("a@x").await.unwrap();
        assert_eq!(limiter.account_locked("a@x").await.unwrap_err().code(), "RATE_LIMITED");
        limiter.account_locked("b@x").await.expect("another account is not locked");
        limiter.account_succeeded("a@x").await;
        limiter.account_locked("a@x").await.unwrap();
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
