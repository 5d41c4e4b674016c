//! Opaque secrets (refresh tokens, API keys, invitation and share tokens): 256 random
//! bits, shown once, stored as SHA-256. A fast hash is right here because the secrets
//! are random and long; argon2 is for passwords people choose.

use base64::Engine;

/// A freshly generated secret and the hash to store.
pub struct NewSecret {
    /// Shown to the caller once; never stored.
    pub plain: String,
    /// Stored and looked up.
    pub hash: String,
}

/// Generates a secret with a recognisable prefix (`vgr_`, `vgk_`…), so leaked secrets are
/// easy to spot in logs and by secret scanners.
pub fn generate(prefix: &str) -> NewSecret {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the operating system's random generator failed");
    let plain = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
    let hash = hash(&plain);
    NewSecret { plain, hash }
}

/// The stored form of a secret.
pub fn hash(plain: &str) -> String {
    crate::sha256_hex(plain)
}

/// Length of the random part of a secret (32 bytes in unpadded base64url).
const RANDOM_LEN: usize = 43;

/// `text` with the random part of every Vigie secret in it replaced, keeping the prefix
/// so a reader still sees which kind of secret was there.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let is_random = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut out = String::new();
    let mut copied = 0;
    let mut at = 0;
    while let Some(found) = text[at..].find("vg") {
        let start = at + found;
        let random = start + 4;
        let is_secret = bytes.get(start + 2).is_some_and(u8::is_ascii_lowercase)
            && bytes.get(start + 3) == Some(&b'_')
            && (start == 0 || !is_random(bytes[start - 1]))
            && bytes.len() >= random + RANDOM_LEN
            && bytes[random..random + RANDOM_LEN].iter().all(|b| is_random(*b))
            && !bytes.get(random + RANDOM_LEN).is_some_and(|b| is_random(*b));
        if is_secret {
            out.push_str(&text[copied..random]);
            out.push_str("[redacted]");
            copied = random + RANDOM_LEN;
            at = copied;
        } else {
            at = start + 2;
        }
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redaction_hides_every_secret_and_nothing_else() {
        let invitation = super::generate("vgi_").plain;
        let share = super::generate("vgs_").plain;
        let text =
            format!("code: {invitation}\nopen https://x.example/graphql?invitation={invitation}&a=1 or /r/{share}.");
        let redacted = super::redact(&text);
        assert!(!redacted.contains(&invitation[4..]) && !redacted.contains(&share[4..]), "{redacted}");
        assert_eq!(redacted.matches("vgi_[redacted]").count(), 2, "{redacted}");
        assert!(redacted.contains("/r/vgs_[redacted]."), "{redacted}");
        for kept in ["vgi_short", "avgi_0123456789012345678901234567890123456789012", "vg", "élan vgé_", ""] {
            assert_eq!(super::redact(kept), kept);
        }
    }

    #[test]
    fn secrets_are_prefixed_random_and_hash_deterministically() {
        let a = super::generate("vgk_");
        let b = super::generate("vgk_");
        assert!(a.plain.starts_with("vgk_"));
        assert_ne!(a.plain, b.plain);
        assert_eq!(super::hash(&a.plain), a.hash);
        assert_eq!(a.hash.len(), 64);
    }
}
