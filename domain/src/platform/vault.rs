//! Secrets Vigie must read back (network credentials), sealed with AES-256-GCM under
//! the operator's key (`VIGIE_SECRETS_KEY`). A sealed value is `v1.<key id>.<base64url
//! of nonce ‖ ciphertext ‖ tag>`; the key id says which key sealed it, so that during a
//! rotation the previous keys (`VIGIE_SECRETS_KEY_PREVIOUS`) still open old values
//! while they are sealed again under the new one. Each value is bound to its row by the
//! associated data (the row's id): a sealed value copied into another row, another
//! tenant's included, does not open.

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
/// The format tag: a later format can be told apart.
const VERSION: &str = "v1";

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no secrets key is configured (VIGIE_SECRETS_KEY)")]
    NoKey,
    #[error("the value was sealed under key {0}, which is not configured")]
    UnknownKey(String),
    #[error("the sealed value is malformed or was altered")]
    Corrupt,
}

/// One 256-bit key and its id.
struct Key {
    id: String,
    key: LessSafeKey,
}

impl Key {
    fn new(raw: &[u8; 32]) -> Self {
        let digest = Sha256::new().chain_update(b"vigie-vault-key-id").chain_update(raw).finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, raw).expect("a 32-byte key"));
        Key { id, key }
    }
}

/// The current key, which seals, and the previous ones, which only open.
#[derive(Clone, Default)]
pub struct Vault {
    keys: std::sync::Arc<Vec<Key>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Key ids only: they say which key is which, and reveal nothing of it.
        f.debug_struct("Vault").field("keys", &self.keys.iter().map(|k| &k.id).collect::<Vec<_>>()).finish()
    }
}

/// Reads a key as written in the configuration: 32 bytes in base64 (standard or URL-safe).
pub fn parse_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| B64.decode(text.trim_end_matches('=')))
        .ok()?;
    bytes.try_into().ok()
}

/// A new random key, as the configuration writes it.
pub fn generate_key() -> String {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("the operating system's random generator failed");
    base64::engine::general_purpose::STANDARD.encode(raw)
}

impl Vault {
    /// A vault sealing under `current`, still opening what `previous` sealed.
    pub fn new(current: Option<[u8; 32]>, previous: &[[u8; 32]]) -> Self {
        let keys = current.iter().chain(previous).map(Key::new).collect();
        Vault { keys: std::sync::Arc::new(keys) }
    }

    /// Whether a key is configured.
    pub fn is_configured(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> Option<&str> {
        self.keys.first().map(|k| k.id.as_str())
    }

    /// Seals `plain` for the row `bound_to`.
    pub fn seal(&self, bound_to: &[u8], plain: &[u8]) -> Result<String, VaultError> {
        let key = self.keys.first().ok_or(VaultError::NoKey)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system's random generator failed");
        let mut in_out = plain.to_vec();
        key.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(bound_to), &mut in_out)
            .map_err(|_| VaultError::Corrupt)?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&in_out);
        Ok(format!("{VERSION}.{}.{}", key.id, B64.encode(sealed)))
    }

    /// Opens a value sealed for the row `bound_to`, under any configured key.
    pub fn open(&self, bound_to: &[u8], sealed: &str) -> Result<Vec<u8>, VaultError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VaultError::Corrupt);
        };
        let key = self.keys.iter().find(|k| k.id == key_id).ok_or_else(|| VaultError::UnknownKey(key_id.into()))?;
        let bytes = B64.decode(body).map_err(|_| VaultError::Corrupt)?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(VaultError::Corrupt);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Corrupt)?;
        let mut in_out = rest.to_vec();
        let plain = key.key.open_in_place(nonce, Aad::from(bound_to), &mut in_out).map_err(|_| VaultError::Corrupt)?;
        Ok(plain.to_vec())
    }

    /// The id of the key a sealed value names.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        sealed.split('.').nth(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_rotates() {
        let (old, new) = ([7u8; 32], [9u8; 32]);
        let before = Vault::new(Some(old), &[]);
        let sealed = before.seal(b"row-1", b"app-password").unwrap();
        assert!(!sealed.contains("app-password"));
        assert_ne!(sealed, before.seal(b"row-1", b"app-password").unwrap(), "a fresh nonce each time");
        assert_eq!(before.open(b"row-1", &sealed).unwrap(), b"app-password");
        // Bound to its row: moved to another, it does not open.
        assert!(matches!(before.open(b"row-2", &sealed), Err(VaultError::Corrupt)));
        // Rotation: the new key seals, the old one still opens.
        let during = Vault::new(Some(new), &[old]);
        assert_eq!(during.open(b"row-1", &sealed).unwrap(), b"app-password");
        let resealed = during.seal(b"row-1", b"app-password").unwrap();
        assert_eq!(Vault::key_id_of(&resealed), during.current_key_id());
        assert_ne!(Vault::key_id_of(&resealed), Vault::key_id_of(&sealed));
        let after = Vault::new(Some(new), &[]);
        assert!(matches!(after.open(b"row-1", &sealed), Err(VaultError::UnknownKey(_))));
        assert_eq!(after.open(b"row-1", &resealed).unwrap(), b"app-password");
        // Altered values and no key are errors, not panics.
        // One character of the body changed for another (replacing it with a fixed one
        // left it as it was once in about four thousand runs: the nonce is random).
        let mut altered = resealed.clone();
        let at = altered.len() - 10;
        let other = if &altered[at..=at] == "A" { "B" } else { "A" };
        altered.replace_range(at..=at, other);
        assert!(matches!(after.open(b"row-1", &altered), Err(VaultError::Corrupt)));
        assert!(matches!(after.open(b"row-1", "v1.x"), Err(VaultError::Corrupt)));
        assert!(matches!(Vault::default().seal(b"row-1", b"x"), Err(VaultError::NoKey)));
    }

    #[test]
    fn reads_keys_in_base64() {
        let key = generate_key();
        assert!(parse_key(&key).is_some());
        assert!(parse_key("too short").is_none());
        assert!(parse_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 16])).is_none());
    }
}
