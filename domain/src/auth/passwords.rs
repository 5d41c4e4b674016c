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
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Verifies a password against a PHC string; `None` verifies against a dummy hash and
/// always fails, taking the same time.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    let target = stored.unwrap_or(DUMMY_HASH.as_str());
    let ok = Argon2::default().verify_password(password.as_bytes(), target).is_ok();
    ok && stored.is_some()
}

/// Runs hashing on the blocking pool: Argon2 takes tens of milliseconds of CPU and
/// must not stall the async executor.
pub async fn hash_blocking(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| Error::Internal(format!("hashing task failed: {e}")))?
}

/// [`verify`] on the blocking pool.
pub async fn verify_blocking(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify(&password, stored.as_deref()))
        .await
        .map_err(|e| Error::Internal(format!("verification task failed: {e}")))
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

    #[test]
    fn policy_bounds_length() {
        assert!(validate("short").is_err());
        assert!(validate(&"x".repeat(300)).is_err());
        assert!(validate("long enough pass").is_ok());
    }
}
