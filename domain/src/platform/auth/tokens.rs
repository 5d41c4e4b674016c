//! Short-lived JWT access tokens (HS256 only: `alg: none` and other algorithms are
//! refused by the validation).

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

use crate::{Error, Result};

const ISSUER: &str = "vigie";

/// The claims of an access token.
/// Only [`TokenKeys::verify`] makes claims outside this crate (they are decoded as
/// [`Signed`], which is private), so holding one means a valid token was shown.
#[derive(Debug, Serialize)]
pub struct Claims {
    /// The user.
    pub(crate) sub: Uuid,
    /// The agency the token acts in.
    pub(crate) agency: Uuid,
    pub(crate) iss: String,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

/// The claims as decoded from a token whose signature was checked.
#[derive(Deserialize)]
struct Signed {
    sub: Uuid,
    agency: Uuid,
    iss: String,
    iat: i64,
    exp: i64,
}

impl From<Signed> for Claims {
    fn from(Signed { sub, agency, iss, iat, exp }: Signed) -> Self {
        Claims { sub, agency, iss, iat, exp }
    }
}

impl Claims {
    /// The agency the token acts in.
    pub fn agency_id(&self) -> Uuid {
        self.agency
    }

    /// When the token expires, in seconds since the epoch.
    pub fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// Signs and checks access tokens with one HMAC key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl TokenKeys {
    /// Keys from the configured secret.
    pub(crate) fn new(secret: &[u8], ttl: Duration) -> Self {
        TokenKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), ttl }
    }

    /// How long an access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues an access token for a user acting in an agency.
    pub(crate) fn issue(&self, user_id: Uuid, agency_id: Uuid) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            agency: agency_id,
            iss: ISSUER.into(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal_from("cannot sign a token", e))
    }

    /// Checks signature, algorithm, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        decode::<Signed>(token, &self.decoding, &validation).map(|data| data.claims.into()).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    Error::Unauthenticated("the access token has expired".into())
                }
                _ => Error::Unauthenticated("invalid access token".into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> TokenKeys {
        TokenKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60))
    }

    #[test]
    fn round_trip() {
        let (user, agency) = (Uuid::now_v7(), Uuid::now_v7());
        let claims = keys().verify(&keys().issue(user, agency).unwrap()).unwrap();
        assert_eq!((claims.sub, claims.agency), (user, agency));
    }

    #[test]
    fn rejects_other_key_alg_none_and_expired() {
        let token = keys().issue(Uuid::now_v7(), Uuid::now_v7()).unwrap();
        let other = TokenKeys::new(b"another-secret-another-secret-xx", Duration::from_secs(60));
        assert!(matches!(other.verify(&token), Err(Error::Unauthenticated(_))));

        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = token.split('.').nth(1).unwrap();
        let none = format!("{}.{payload}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#));
        assert!(keys().verify(&none).is_err());

        let expired = TokenKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(0));
        let now = Utc::now().timestamp();
        let claims =
            Claims { sub: Uuid::now_v7(), agency: Uuid::now_v7(), iss: ISSUER.into(), iat: now - 100, exp: now - 60 };
        let old = encode(&Header::new(Algorithm::HS256), &claims, &expired.encoding).unwrap();
        let err = keys().verify(&old).unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
    }
}
