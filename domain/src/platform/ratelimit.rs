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
//! Accounts are also throttled one by one ([`RateLimiter::account_attempt`]): after
//! [`FREE_FAILURES`] failed log-ins from one client network, each further failure locks
//! the account's log-in from that network for twice as long as the previous one (1 s,
//! 2 s, 4 s… at most [`MAX_LOCK`]); after [`FREE_FAILURES_ANYWHERE`] from all networks
//! together (NIST SP 800-63B's bound), the same from everywhere. A stranger's guesses
//! thus lock out the stranger's network, not the owner, unless they come from a hundred
//! failures' worth of networks; and guessing from many networks stays bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Script;

use crate::platform::redis_client::{Connection, Patience, Redis};
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

/// Failed log-ins an account may have from one client network before each further one
/// locks it there.
pub const FREE_FAILURES: u32 = 5;
/// Failed log-ins an account may have from all networks before each further one locks
/// it everywhere.
pub const FREE_FAILURES_ANYWHERE: u32 = 100;
/// Failed log-ins in a row after which the account's owner is told by email.
pub const FAILURE_BURST: u32 = 10;
/// Failures are forgotten this long after the last one (or at the next success).
pub const FAILURE_WINDOW: Duration = Duration::from_secs(3600);
/// The longest lock one failure imposes.
pub const MAX_LOCK: Duration = Duration::from_secs(900);

/// How long the `failures`-th failure in a row locks the account, `free` being allowed.
fn lock_after(failures: u32, free: u32) -> Option<Duration> {
    let over = failures.checked_sub(free).filter(|over| *over > 0)?;
    Some(Duration::from_secs(1u64 << (over - 1).min(20)).min(MAX_LOCK))
}

/// Counts an attempt unless the account is locked. KEYS[1]: the attempts in a row,
/// KEYS[2]: the lock; ARGV: the window, the free failures and the longest lock, in
/// milliseconds or counts. Returns the count, or minus the lock's milliseconds left.
const ACCOUNT_ATTEMPT: &str = r#"
local locked = redis.call('PTTL', KEYS[2])
if locked > 0 then return -locked end
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

/// An account's log-in attempts in a row, in memory.
#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// The buckets of every replica, in Redis.
struct RedisBuckets {
    redis: Redis,
    prefix: String,
    conn: OnceCell<Connection>,
    script: Script,
    account_attempt: Script,
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
    pub fn redis(redis: &Redis, prefix: &str) -> Self {
        RateLimiter {
            backend: Backend::Redis(Box::new(RedisBuckets {
                redis: redis.clone(),
                prefix: prefix.to_owned(),
                conn: OnceCell::new(),
                script: Script::new(GCRA),
                account_attempt: Script::new(ACCOUNT_ATTEMPT),
            })),
        }
    }

    /// Takes one token from `key`'s bucket, or fails with [`Error::RateLimited`] saying
    /// when to come back. `None` quota: no limit.
    pub async fn check(&self, key: &str, quota: Option<Quota>) -> Result<()> {
        self.take(key, quota, false).await.map(drop)
    }

    /// [`RateLimiter::check`] that refuses when the limiter cannot be reached, for the
    /// requests that carry credentials.
    pub async fn check_strict(&self, key: &str, quota: Option<Quota>) -> Result<()> {
        self.take(key, quota, true).await.map(drop)
    }

    /// [`RateLimiter::check`] that also says whether the token was counted (`false`:
    /// the limiter could not be reached and let the request through), for a request
    /// that turns out to carry credentials only once it is read.
    pub async fn check_counted(&self, key: &str, quota: Option<Quota>) -> Result<bool> {
        self.take(key, quota, false).await
    }

    /// Refusal of a credential request that the limiter could not count.
    pub fn uncounted_credentials() -> Error {
        limiter_down()
    }

    async fn take(&self, key: &str, quota: Option<Quota>, strict: bool) -> Result<bool> {
        let Some(quota) = quota else { return Ok(true) };
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
                    tracing::warn!(error = %crate::platform::error::chain(&error), key, "rate limiter unavailable; refusing a request with credentials");
                    return Err(limiter_down());
                }
                Err(error) => {
                    tracing::warn!(error = %crate::platform::error::chain(&error), key, "rate limiter unavailable; letting the request through");
                    return Ok(false);
                }
            },
        };
        match wait {
            None => Ok(true),
            Some(retry_after) => Err(Error::RateLimited { retry_after }),
        }
    }

    /// Counts a log-in attempt on `account` from `network` before its password is
    /// checked, or fails with [`Error::RateLimited`] while earlier failures lock it
    /// there or everywhere (and with [`Error::Unavailable`] when the limiter cannot be
    /// reached). Checking and counting are one step per scope, so a burst of parallel
    /// guesses cannot all pass a lock that none has set yet. Returns the attempts in a
    /// row from all networks, this one included; a success forgets them
    /// ([`RateLimiter::account_succeeded`]).
    pub async fn account_attempt(&self, account: &str, network: &str) -> Result<u32> {
        let (here, anywhere) = (account_scope(account, Some(network)), account_scope(account, None));
        // While the account is locked everywhere, an attempt counts nowhere: the owner's
        // own tries must not also lock their network.
        if let Some(retry_after) = self.lock_left(&anywhere).await? {
            return Err(Error::RateLimited { retry_after });
        }
        self.scoped_attempt(&here, FREE_FAILURES).await?;
        self.scoped_attempt(&anywhere, FREE_FAILURES_ANYWHERE).await
    }

    /// How long `key`'s lock has left, if any.
    async fn lock_left(&self, key: &str) -> Result<Option<Duration>> {
        match &self.backend {
            Backend::Memory { accounts, .. } => {
                let accounts = accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let until = accounts.get(key).and_then(|failures| failures.locked_until);
                Ok(until.and_then(|until| until.checked_duration_since(Instant::now())))
            }
            Backend::Redis(buckets) => {
                let mut conn = buckets.connection().await.map_err(|e| account_store_down(&e))?;
                let left: i64 = redis::cmd("PTTL")
                    .arg(buckets.account_key(key, "lock"))
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| account_store_down(&e))?;
                Ok(u64::try_from(left).ok().filter(|ms| *ms > 0).map(Duration::from_millis))
            }
        }
    }

    async fn scoped_attempt(&self, key: &str, free: u32) -> Result<u32> {
        let outcome = match &self.backend {
            Backend::Memory { accounts, .. } => {
                let mut accounts = accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                if accounts.len() >= SWEEP_AT {
                    accounts.retain(|_, failures| now.duration_since(failures.last) < FAILURE_WINDOW);
                }
                let entry =
                    accounts.entry(key.to_owned()).or_insert(Failures { count: 0, last: now, locked_until: None });
                match entry.locked_until.and_then(|until| until.checked_duration_since(now)) {
                    Some(left) => Err(left),
                    None => {
                        if now.duration_since(entry.last) >= FAILURE_WINDOW {
                            entry.count = 0;
                        }
                        entry.count = entry.count.saturating_add(1);
                        entry.last = now;
                        entry.locked_until = lock_after(entry.count, free).map(|lock| now + lock);
                        Ok(entry.count)
                    }
                }
            }
            Backend::Redis(buckets) => {
                let mut conn = buckets.connection().await.map_err(|e| account_store_down(&e))?;
                let answer: i64 = buckets
                    .account_attempt
                    .key(buckets.account_key(key, "attempts"))
                    .key(buckets.account_key(key, "lock"))
                    .arg(FAILURE_WINDOW.as_millis() as u64)
                    .arg(free)
                    .arg(MAX_LOCK.as_millis() as u64)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| account_store_down(&e))?;
                match u32::try_from(answer) {
                    Ok(count) => Ok(count),
                    Err(_) => Err(Duration::from_millis(answer.unsigned_abs())),
                }
            }
        };
        outcome.map_err(|retry_after| Error::RateLimited { retry_after })
    }

    /// Forgets `account`'s failures (from `network` and from everywhere) after a
    /// successful log-in: the password was known.
    pub async fn account_succeeded(&self, account: &str, network: &str) {
        let scopes = [account_scope(account, Some(network)), account_scope(account, None)];
        match &self.backend {
            Backend::Memory { accounts, .. } => {
                let mut accounts = accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                for scope in &scopes {
                    accounts.remove(scope);
                }
            }
            Backend::Redis(buckets) => {
                let keys: Vec<String> = scopes
                    .iter()
                    .flat_map(|scope| [buckets.account_key(scope, "attempts"), buckets.account_key(scope, "lock")])
                    .collect();
                // The keys sit in two slots: a cluster client splits the DEL by slot.
                let deleted = match buckets.connection().await {
                    Ok(mut conn) => redis::cmd("DEL").arg(&keys).query_async::<()>(&mut conn).await,
                    Err(e) => Err(e),
                };
                if let Err(error) = deleted {
                    tracing::warn!(error = %crate::platform::error::chain(&error), "cannot clear an account's failed log-ins");
                }
            }
        }
    }
}

/// The key of an account's failures, from one network or from all: hashed, so that
/// neither emails nor addresses sit in Redis.
fn account_scope(account: &str, network: Option<&str>) -> String {
    match network {
        Some(network) => crate::platform::auth::secrets::hash(&format!("{account}\n{network}")),
        None => crate::platform::auth::secrets::hash(account),
    }
}

/// Credentials are refused while the limiter is down (see the module doc).
fn limiter_down() -> Error {
    Error::Unavailable("log-in is unavailable for a moment; retry shortly".into())
}

fn account_store_down(error: &redis::RedisError) -> Error {
    tracing::warn!(error = %crate::platform::error::chain(error), "the log-in throttle cannot reach Redis; refusing credentials");
    limiter_down()
}

impl RedisBuckets {
    /// The connection shared by the limiter's calls.
    async fn connection(&self) -> Result<Connection, redis::RedisError> {
        let conn = self
            .conn
            // The limiter sits in front of every request, and it lets requests through
            // when Redis is slow rather than holding them.
            .get_or_try_init(|| self.redis.connect(Patience::QUICK))
            .await?;
        Ok(conn.clone())
    }

    /// One of an account's keys, by the hash of its email (no address sits in Redis);
    /// both share a hash slot, as the script touches both.
    fn account_key(&self, hashed: &str, what: &str) -> String {
        format!("{}:login:{{{hashed}}}:{what}", self.prefix)
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
        let locks: Vec<_> = (1..=8).map(|n| lock_after(n, FREE_FAILURES)).collect();
        assert_eq!(locks[..5], [None; 5]);
        assert_eq!(locks[5..], [1, 2, 4].map(|s| Some(Duration::from_secs(s))));
        assert_eq!(lock_after(40, FREE_FAILURES), Some(MAX_LOCK));
        assert_eq!(lock_after(u32::MAX, FREE_FAILURES), Some(MAX_LOCK));
        assert_eq!(lock_after(100, FREE_FAILURES_ANYWHERE), None);
        assert_eq!(lock_after(101, FREE_FAILURES_ANYWHERE), Some(Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn memory_accounts_lock_after_failures_and_unlock_on_success() {
        let limiter = RateLimiter::memory();
        for n in 1..=FREE_FAILURES + 1 {
            assert_eq!(limiter.account_attempt("a@x", "net1").await.unwrap(), n, "attempts until the lock are counted");
        }
        assert_eq!(limiter.account_attempt("a@x", "net1").await.unwrap_err().code(), "RATE_LIMITED");
        limiter.account_attempt("b@x", "net1").await.expect("another account is not locked");
        // The owner, from their own network, is not locked out by a stranger's guesses.
        assert_eq!(limiter.account_attempt("a@x", "net2").await.unwrap(), FREE_FAILURES + 2);
        limiter.account_succeeded("a@x", "net2").await;
        assert_eq!(limiter.account_attempt("a@x", "net2").await.unwrap(), 1, "a success forgets them");
    }

    #[tokio::test]
    async fn guesses_from_many_networks_lock_the_account_everywhere() {
        let limiter = RateLimiter::memory();
        for n in 1..=FREE_FAILURES_ANYWHERE + 1 {
            let network = format!("net{}", n / FREE_FAILURES);
            assert_eq!(limiter.account_attempt("a@x", &network).await.unwrap(), n);
        }
        let locked = limiter.account_attempt("a@x", "a fresh network").await;
        assert_eq!(locked.unwrap_err().code(), "RATE_LIMITED");
        // Refused while locked everywhere, the owner's tries count nowhere.
        for _ in 0..FREE_FAILURES * 2 {
            assert_eq!(limiter.account_attempt("a@x", "home").await.unwrap_err().code(), "RATE_LIMITED");
        }
        let Backend::Memory { accounts, .. } = &limiter.backend else { unreachable!() };
        assert!(!accounts.lock().unwrap().contains_key(&account_scope("a@x", Some("home"))));
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
