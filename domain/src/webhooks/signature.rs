//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): the receiver
//! recomputes `base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))`
//! with the key after `whsec_`, and compares it with one of the space-separated
//! `v1,…` values of `webhook-signature` (two during a secret rotation).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{Error, Result};

/// The prefix of every endpoint secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::internal(format!("random: {e}")))?;
    Ok(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
}

/// At most this many signatures of a `webhook-signature` header are checked (a sender
/// puts one or two), so a hostile header costs no more than a genuine one.
const MAX_SIGNATURES: usize = 4;

/// HMAC-SHA256 of `{msg_id}.{timestamp}.{body}` under a secret, not yet finalised.
fn mac(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|e| Error::internal_from("bad webhook secret", e))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| Error::internal_from("webhook signing key", e))?;
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `v1,…` signature of a message with one secret.
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    Ok(format!("v1,{}", STANDARD.encode(mac(secret, msg_id, timestamp, body)?.finalize().into_bytes())))
}

/// Whether `header` (a `webhook-signature` value) holds a valid signature of the
/// message by `secret`, as a receiver checks it: the body is hashed once, each of the
/// first few `v1,` values compared in constant time.
pub fn verify(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(mac) = mac(secret, msg_id, timestamp, body) else { return false };
    header
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .take(MAX_SIGNATURES)
        .filter_map(|s| STANDARD.decode(s).ok())
        .any(|given| mac.clone().verify_slice(&given).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_specification_example() {
        // The example of the Standard Webhooks reference libraries.
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let (secret, id, body) =
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", br#"{"test": 2432232314}"#);
        assert!(verify(secret, id, 1614265330, body, &format!("v1,bm90IGl0 {signature}")));
        assert!(!verify(secret, id, 1614265331, body, &signature), "another timestamp");
        assert!(!verify(secret, id, 1614265330, b"{}", &signature), "another body");
        assert!(!verify(&new_secret().unwrap(), id, 1614265330, body, &signature), "another secret");
        assert!(!verify(secret, id, 1614265330, body, "v2,garbage v1,%%%"));
    }

    #[test]
    fn secrets_are_random_and_prefixed() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert!(a.starts_with(SECRET_PREFIX) && a != b);
        assert_eq!(STANDARD.decode(&a[SECRET_PREFIX.len()..]).unwrap().len(), 32);
    }
}
