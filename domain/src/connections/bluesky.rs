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
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub access_jwt: String,
    pub refresh_jwt: String,
    pub handle: String,
    pub did: String,
}

impl std::fmt::Debug for Session {
    // The tokens are credentials: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("handle", &self.handle).field("did", &self.did).finish_non_exhaustive()
    }
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

/// The error's name, as the network wrote it, cut to a short word: it reaches the
/// connection's `lastError`, events and webhooks.
fn error_name(body: &[u8]) -> String {
    let name = serde_json::from_slice::<XrpcError>(body).unwrap_or_default().error;
    name.chars().filter(char::is_ascii_alphanumeric).take(64).collect()
}

/// The errors that say the credentials themselves are refused (a wrong or revoked
/// password, an expired or revoked refresh token, a suspended account): anything else
/// (a proxy's page, a maintenance) may pass, and must not lock the connection.
const REFUSALS: [&str; 6] = [
    "AuthenticationRequired",
    "AccountTakedown",
    "AccountDeactivated",
    "AuthFactorTokenRequired",
    "ExpiredToken",
    "InvalidToken",
];

/// An `Authorization` value for a token.
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| "a token that is not a header value".to_owned())
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
            if REFUSALS.contains(&name.as_str()) {
                Err(SessionError::Refused(name))
            } else {
                Err(SessionError::Status(fetched.status))
            }
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
    headers.insert(AUTHORIZATION, bearer(refresh_jwt).map_err(SessionError::Malformed)?);
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

/// A record's strong reference (`com.atproto.repo.strongRef`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct StrongRef {
    pub uri: String,
    pub cid: String,
}

pub use super::PublishError;

/// Reads an XRPC answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: crate::platform::outbound::Fetched, what: &str) -> Result<Vec<u8>, PublishError> {
    match fetched.status {
        200..=299 => Ok(fetched.body),
        429 => Err(PublishError::Transient {
            reason: format!("Bluesky rate-limited {what}"),
            retry_after: retry_after(&fetched.headers),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from Bluesky on {what}", fetched.status))),
        status => {
            let name = error_name(&fetched.body);
            let name = if name.is_empty() { String::new() } else { format!(" {name}") };
            Err(PublishError::Refused(format!("HTTP {status}{name} on {what}")))
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, PublishError> {
    serde_json::from_slice(body).map_err(|e| {
        // The parser's message may quote the answer: it stays in the log.
        tracing::info!(error = %e, what, "malformed answer from Bluesky");
        PublishError::transient(format!("a malformed {what} answer from Bluesky"))
    })
}

/// The post `uri` names and the root of its thread, which a reply to it must name.
pub async fn thread_of(
    credential: &super::Credential<'_>,
    endpoint: &str,
    uri: &str,
) -> Result<(StrongRef, StrongRef), PublishError> {
    #[derive(Deserialize)]
    struct Posts {
        posts: Vec<Post>,
    }
    #[derive(Deserialize)]
    struct Post {
        uri: String,
        cid: String,
        #[serde(default)]
        record: serde_json::Value,
    }
    let mut url = url::Url::parse(&format!("{endpoint}/xrpc/app.bsky.feed.getPosts"))
        .map_err(|e| PublishError::Refused(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().append_pair("uris", uri);
    let body = answer(credential.request(url.as_str(), None).await?, "getPosts")?;
    let post = parse::<Posts>(&body, "getPosts")?
        .posts
        .into_iter()
        .find(|p| p.uri == uri)
        .ok_or_else(|| PublishError::Refused("the post to answer no longer exists".into()))?;
    let parent = StrongRef { uri: post.uri, cid: post.cid };
    // A post that answers none is its thread's root.
    let root = match post.record.get("reply") {
        None => parent.clone(),
        Some(reply) => serde_json::from_value::<StrongRef>(reply["root"].clone())
            .map_err(|_| PublishError::Refused("the post names no valid thread root".into()))?,
    };
    Ok((parent, root))
}

/// The post with record key `rkey` in the account's repository, if it exists: a reply
/// whose publication was not recorded (a crash after the call) is found, not posted twice.
pub async fn find_post(
    credential: &super::Credential<'_>,
    endpoint: &str,
    did: &str,
    rkey: &str,
) -> Result<Option<StrongRef>, PublishError> {
    let mut url = url::Url::parse(&format!("{endpoint}/xrpc/com.atproto.repo.getRecord"))
        .map_err(|e| PublishError::Refused(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().append_pair("repo", did).append_pair("collection", POST).append_pair("rkey", rkey);
    let fetched = credential.request(url.as_str(), None).await?;
    if matches!(fetched.status, 400 | 404) && error_name(&fetched.body) == "RecordNotFound" {
        return Ok(None);
    }
    let body = answer(fetched, "getRecord")?;
    Ok(Some(parse::<StrongRef>(&body, "getRecord")?))
}

/// The collection of posts.
const POST: &str = "app.bsky.feed.post";

/// Publishes `text` as a reply to `parent` (in the thread of `root`) from the account
/// `did`, under the record key `rkey` (chosen once per reply, so that a retry cannot
/// make a second post).
pub async fn reply(
    credential: &super::Credential<'_>,
    endpoint: &str,
    did: &str,
    rkey: &str,
    text: &str,
    (parent, root): (&StrongRef, &StrongRef),
) -> Result<StrongRef, PublishError> {
    let record = serde_json::json!({
        "repo": did,
        "collection": POST,
        "rkey": rkey,
        "record": {
            "$type": POST,
            "text": text,
            "createdAt": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "reply": { "root": root, "parent": parent },
        },
    });
    let url = format!("{endpoint}/xrpc/com.atproto.repo.createRecord");
    let body = answer(credential.request(&url, Some(&record)).await?, "createRecord")?;
    parse(&body, "createRecord")
}

/// A record key in the TID form posts take: 64 bits (microseconds since the epoch, then
/// a 10-bit clock id) in base32-sortable, 13 characters.
pub fn tid(at: DateTime<Utc>, clock_id: u16) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    let micros = u64::try_from(at.timestamp_micros()).unwrap_or(0) & ((1 << 53) - 1);
    let mut value = (micros << 10) | u64::from(clock_id & 0x3ff);
    let mut out = [0u8; 13];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value & 31) as usize];
        value >>= 5;
    }
    String::from_utf8(out.to_vec()).expect("ASCII")
}

/// The public link of a post from its `at://did/app.bsky.feed.post/rkey` URI.
pub fn post_url(uri: &str, handle: &str) -> Option<String> {
    let rkey = uri.strip_prefix("at://")?.rsplit('/').next()?;
    Some(format!("https://bsky.app/profile/{handle}/post/{rkey}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn makes_record_keys_and_links() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        let key = tid(at, 7);
        assert_eq!(key.len(), 13);
        assert!(key.starts_with(['2', '3', '4', '5', '6', '7']), "the top bit is zero: {key}");
        assert!(tid(at + chrono::Duration::microseconds(1), 7) > key, "sortable by time");
        assert_eq!(
            post_url("at://did:plc:verdure/app.bsky.feed.post/3kabc", "verdure.bsky.social").as_deref(),
            Some("https://bsky.app/profile/verdure.bsky.social/post/3kabc")
        );
    }

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
    }
}
