//! Bluesky sessions from an app password (`com.atproto.server.createSession`), renewed
//! with the refresh token (`com.atproto.server.refreshSession`, which revokes the one it
//! is given). Requests carry the access token as a bearer; the PDS answers an expired
//! one with `ExpiredToken` and proxies AppView methods such as `searchPosts`, which the
//! public AppView often refuses to anonymous callers.

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use std::time::Duration;

use crate::platform::outbound::{FetchError, Http, retry_after};

/// The entryway of accounts hosted by Bluesky itself.
pub const DEFAULT_ENDPOINT: &str = "https://bsky.social";
/// How long a session call may take.
const TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a session answer read (it holds two tokens and a DID document).
const KEEP: usize = 256 * 1024;

/// A session's tokens and the account they open.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub access_jwt: String,
    pub refresh_jwt: String,
    pub handle: String,
    pub did: String,
}

/// Why a session call failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The credentials were refused: a wrong or revoked app password, an expired or
    /// revoked refresh token, a taken-down account.
    #[error("Bluesky refused the credentials ({0})")]
    Refused(String),
    #[error("Bluesky rate-limited the session call")]
    RateLimited { retry_after: Option<Duration> },
    #[error("HTTP {0} from Bluesky")]
    Status(u16),
    #[error("malformed session from Bluesky: {0}")]
    Malformed(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// An XRPC error body: `{"error": "ExpiredToken", "message": "…"}`.
#[derive(Debug, Default, Deserialize)]
struct XrpcError {
    #[serde(default)]
    error: String,
}

fn error_name(body: &[u8]) -> String {
    serde_json::from_slice::<XrpcError>(body).unwrap_or_default().error
}

/// Whether an answer says the access token is no longer good (expired or revoked), so
/// that a renewed one may succeed.
pub fn token_rejected(status: u16, body: &[u8]) -> bool {
    matches!(status, 400 | 401) && matches!(error_name(body).as_str(), "ExpiredToken" | "InvalidToken")
}

async fn call(http: &Http, url: &str, headers: HeaderMap, body: Vec<u8>) -> Result<Session, SessionError> {
    let fetched = http.post(url, headers, body, TIMEOUT, KEEP).await?;
    match fetched.status {
        200 => serde_json::from_slice(&fetched.body).map_err(|e| SessionError::Malformed(e.to_string())),
        400 | 401 | 403 => {
            let name = error_name(&fetched.body);
            Err(SessionError::Refused(if name.is_empty() { format!("HTTP {}", fetched.status) } else { name }))
        }
        429 => Err(SessionError::RateLimited { retry_after: retry_after(&fetched.headers) }),
        status => Err(SessionError::Status(status)),
    }
}

/// Opens a session with an identifier (handle, DID or email) and an app password.
pub async fn create_session(
    http: &Http,
    endpoint: &str,
    identifier: &str,
    password: &str,
) -> Result<Session, SessionError> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::json!({ "identifier": identifier, "password": password }).to_string().into_bytes();
    call(http, &format!("{endpoint}/xrpc/com.atproto.server.createSession"), headers, body).await
}

/// Renews a session with its refresh token, which the call revokes.
pub async fn refresh_session(http: &Http, endpoint: &str, refresh_jwt: &str) -> Result<Session, SessionError> {
    let mut headers = HeaderMap::new();
    let bearer = HeaderValue::from_str(&format!("Bearer {refresh_jwt}"))
        .map_err(|_| SessionError::Malformed("a refresh token that is not a header value".into()))?;
    headers.insert(AUTHORIZATION, bearer);
    call(http, &format!("{endpoint}/xrpc/com.atproto.server.refreshSession"), headers, Vec::new()).await
}

/// When a JWT says it expires (`exp`), read without checking its signature: only to
/// renew it before the network refuses it.
pub fn expiry(jwt: &str) -> Option<DateTime<Utc>> {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Claims {
        exp: i64,
    }
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    DateTime::from_timestamp(serde_json::from_slice::<Claims>(&bytes).ok()?.exp, 0)
}

/// What Bluesky's rate-limit headers say is left (`ratelimit-remaining`) and when it
/// resets (`ratelimit-reset`, Unix seconds).
pub fn quota(headers: &HeaderMap) -> Option<(i32, Option<DateTime<Utc>>)> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
    let remaining = i32::try_from(read("ratelimit-remaining")?.max(0)).unwrap_or(i32::MAX);
    Some((remaining, read("ratelimit-reset").and_then(|at| DateTime::from_timestamp(at, 0))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_expiry_and_rejections() {
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"scope":"com.atproto.appPass","exp":1767225600}"#);
        let jwt = format!("eyJhbGciOiJFUzI1NksifQ.{payload}.c2ln");
        assert_eq!(expiry(&jwt), DateTime::from_timestamp(1_767_225_600, 0));
        assert_eq!(expiry("not a jwt"), None);
        assert!(token_rejected(400, br#"{"error":"ExpiredToken","message":"Token has expired"}"#));
        assert!(token_rejected(401, br#"{"error":"InvalidToken"}"#));
        assert!(!token_rejected(400, br#"{"error":"InvalidRequest"}"#));
        assert!(!token_rejected(500, br#"{"error":"ExpiredToken"}"#));
        let mut headers = HeaderMap::new();
        headers.insert("ratelimit-remaining", HeaderValue::from_static("2998"));
        headers.insert("ratelimit-reset", HeaderValue::from_static("1767225600"));
        assert_eq!(quota(&headers), Some((2998, DateTime::from_timestamp(1_767_225_600, 0))));
    }
}
