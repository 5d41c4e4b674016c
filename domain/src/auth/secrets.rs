//! Opaque secrets (refresh tokens, API keys, invitation and share tokens): 256 random
//! bits, shown once, stored as SHA-256. A fast hash is right here because the secrets
//! are random and long; argon2 is for passwords people choose.

use base64::Engine;
use sha2::{Digest, Sha256};

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
    let digest = Sha256::digest(plain.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
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
