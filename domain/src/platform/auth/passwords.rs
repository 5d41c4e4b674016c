//! Password hashing with Argon2id (the crate's recommended parameters).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::LazyLock;

use crate::{Error, Result};

/// Minimum password length, in characters.
pub const MIN_PASSWORD_LEN: usize = 10;
/// Maximum password length: bounds the hashing work an attacker can ask for.
pub const MAX_PASSWORD_LEN: usize = 256;

/// A hash of a password nobody has, verified when the email is unknown so that a log-in
/// with an unknown email costs the same time as one with a wrong password.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash("vigie-timing-equaliser-not-a-password").expect("hashing a constant"));

/// Checks the password policy.
pub fn validate(password: &str) -> Result<()> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(Error::bad_input("password", format!("must be at least {MIN_PASSWORD_LEN} characters")));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(Error::bad_input("password", format!("must be at most {MAX_PASSWORD_LEN} characters")));
    }
    Ok(())
}

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("password hashing failed: {e}")))
}

/// Verifies a password against a PHC string; `None` verifies against a dummy hash and
/// always fails, taking the same time.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let target = stored.unwrap_or(DUMMY_HASH.as_str());
    let ok = Argon2::default().verify_password(password.as_bytes(), target).is_ok();
    ok && stored.is_some()
}

/// Password work on the blocking pool, at most `concurrency` hashes at once: each
/// takes 19 MiB and tens of milliseconds of CPU, so a flood of log-ins must not queue
/// unbounded memory and starve the rest. A short burst waits its turn (up to
/// [`QUEUED_PER_SLOT`] requests per slot); past that, work is refused at once with
/// [`Error::RateLimited`].
#[derive(Clone)]
pub struct PasswordWork {
    /// Requests admitted: running or waiting for a slot.
    admitted: std::sync::Arc<tokio::sync::Semaphore>,
    /// Hashes running.
    running: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Requests that may wait for each hashing slot before more are refused.
pub const QUEUED_PER_SLOT: usize = 4;

impl PasswordWork {
    /// At most `concurrency` (at least one) hashes computed at once.
    pub fn new(concurrency: usize) -> Self {
        let concurrency = concurrency.max(1);
        PasswordWork {
            admitted: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency * (1 + QUEUED_PER_SLOT))),
            running: std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency)),
        }
    }

    /// [`hash`] on the blocking pool.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || hash(&password)).await?
    }

    /// [`verify`] on the blocking pool.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        self.run(move || verify(&password, stored.as_deref())).await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            tracing::warn!("password work refused: every hashing slot is busy and its queue full");
            Error::RateLimited { retry_after: std::time::Duration::from_secs(1) }
        })?;
        let slot = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::internal_from("the password slots are closed", e))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|e| Error::internal_from("password task failed", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&a)));
        assert!(!verify("wrong horse battery", Some(&a)));
        assert!(!verify("correct horse battery", None));
    }

    #[tokio::test]
    async fn work_beyond_the_bound_is_refused_not_queued() {
        let work = PasswordWork::new(1);
        let busy = work.admitted.clone().try_acquire_many_owned(1 + QUEUED_PER_SLOT as u32).unwrap();
        let refused = work.verify("correct horse battery".into(), None).await.unwrap_err();
        assert_eq!(refused.code(), "RATE_LIMITED");
        drop(busy);
        assert!(!work.verify("correct horse battery".into(), None).await.unwrap(), "the slot came back");
    }

    #[test]
    fn policy_bounds_length() {
        assert!(validate("short").is_err());
        assert!(validate(&"x".repeat(300)).is_err());
        assert!(validate("long enough pass").is_ok());
    }
}
