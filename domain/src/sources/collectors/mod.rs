//! Collectors: one per kind of network API, behind [`Collector`]. A collector turns one
//! poll of a source into mentions and the position to resume from (cursor, ETag,
//! Last-Modified); storing, health and scheduling are the caller's.

pub mod bluesky;
pub mod feed;
pub mod google;
pub mod linkedin;
pub mod mastodon;
pub mod meta;
pub mod reddit;
pub mod trustpilot;
pub mod x;
pub mod youtube;

#[cfg(test)]
mod fuzz;

use reqwest::header::HeaderMap;
use serde_json::Value;
use std::time::Duration;

use crate::connections::{Credential, CredentialError};
use crate::entities::source;
use crate::mentions::store::NewMention;
use crate::platform::outbound::{FetchError, Fetched, Http, retry_after};

/// Pages read per poll at most: a source far behind catches up over several polls
/// instead of hammering the network in one.
pub const MAX_PAGES: usize = 5;

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("rate limited (HTTP 429){}", .retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("HTTP {0} from the network")]
    Status(u16),
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The network refused the request for a reason it named (a permission, a limit
    /// of the account): retrying as it is will not help.
    #[error("the network refused: {0}")]
    Refused(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("connection: {0}")]
    Credential(#[from] CredentialError),
}

/// What one poll brought.
#[derive(Debug, Default)]
pub struct Poll {
    pub mentions: Vec<NewMention>,
    /// Where the next poll resumes; `None` keeps the current one.
    pub cursor: Option<Value>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Set when a later page failed after earlier ones were read: what was read is
    /// stored and the cursor advanced to it, and the failure still counts.
    pub incomplete: Option<CollectError>,
    /// What the last answer's rate-limit headers said of the quota.
    pub quota: Option<crate::platform::outbound::Quota>,
}

/// A kind of network API.
#[async_trait::async_trait]
pub trait Collector: Send + Sync {
    /// Reads what is new on `source` since its cursor, signed in with `credential`
    /// when the source has a connection.
    async fn poll(
        &self,
        http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError>;
}

/// The collector of a source, by its network and kind.
pub fn for_source(source: &source::Model) -> Option<&'static dyn Collector> {
    match (source.network.as_str(), source.kind.as_str()) {
        (_, "feed") => Some(&feed::FeedCollector),
        ("mastodon", "hashtag" | "search" | "account") => Some(&mastodon::MastodonCollector),
        ("bluesky", "search" | "account") => Some(&bluesky::BlueskyCollector),
        ("youtube", "search" | "account") => Some(&youtube::YoutubeCollector),
        ("reddit", "search" | "community") => Some(&reddit::RedditCollector),
        ("x", "search" | "account") => Some(&x::XCollector),
        ("trustpilot", "account") => Some(&trustpilot::TrustpilotCollector),
        ("google", "account") => Some(&google::GoogleCollector),
        ("facebook", "account") => Some(&meta::FacebookCollector),
        ("linkedin", "account") => Some(&linkedin::LinkedinCollector),
        ("instagram", "account" | "search" | "hashtag") => Some(&meta::InstagramCollector),
        _ => None,
    }
}

/// The credential of a source whose network answers only signed-in callers; creating
/// such a source requires a connection, so none means it was deleted since.
pub(crate) fn signed_in<'c, 'a>(
    credential: Option<&'c Credential<'a>>,
    network: &str,
) -> Result<&'c Credential<'a>, CollectError> {
    credential.ok_or_else(|| {
        CollectError::Credential(CredentialError::Failed(format!("{network} sources need a connection")))
    })
}

/// GETs `url`, mapping 429 and other error statuses to [`CollectError`]; 304 passes.
pub(crate) async fn get(http: &Http, url: &str, headers: HeaderMap) -> Result<Fetched, CollectError> {
    check(http.get(url, headers).await?)
}

/// Maps 429 and other error statuses of an answer to [`CollectError`]; 304 passes.
pub(crate) fn check(fetched: Fetched) -> Result<Fetched, CollectError> {
    match fetched.status {
        200..=299 | 304 => Ok(fetched),
        // Reddit says when its window resets, not `Retry-After`.
        429 => Err(CollectError::RateLimited {
            retry_after: retry_after(&fetched.headers).or_else(|| {
                let reset = crate::platform::outbound::quota(&fetched.headers)?.resets_at?;
                (reset - chrono::Utc::now()).to_std().ok()
            }),
        }),
        status => Err(CollectError::Status(status)),
    }
}

/// What a collector kept in a cursor; a missing or unreadable one starts over.
pub(crate) fn mark_of<T: serde::de::DeserializeOwned + Default>(cursor: Option<&Value>) -> T {
    cursor.and_then(|c| serde_json::from_value(c.clone()).ok()).unwrap_or_default()
}

/// GETs a page with `credential`, keeps what its rate-limit headers say as the poll's
/// quota, and parses it as `what`.
pub(crate) async fn signed_page<T: serde::de::DeserializeOwned>(
    credential: &Credential<'_>,
    url: &str,
    what: &str,
    poll: &mut Poll,
) -> Result<T, CollectError> {
    let fetched = check(credential.request(url, None).await?)?;
    poll.quota = crate::platform::outbound::quota(&fetched.headers).or(poll.quota.take());
    json(&fetched.body, what)
}

/// Parses JSON, naming what was expected when it fails.
pub(crate) fn json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, CollectError> {
    serde_json::from_slice(body).map_err(|e| CollectError::Malformed(format!("{what}: {e}")))
}

/// A count read from a network (followers, likes…): networks and proxies have been seen
/// to send negative numbers, which would make scores meaningless; they count as none.
pub(crate) fn count(n: i64) -> i64 {
    n.max(0)
}

/// Truncates a text to the longest mention Vigie stores.
pub(crate) fn clip(text: String) -> String {
    const MAX: usize = 20_000;
    if text.chars().count() <= MAX { text } else { text.chars().take(MAX).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use reqwest::header::{HeaderValue, RETRY_AFTER};

    #[test]
    fn reads_retry_after_in_both_forms() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(120)));
        let later = (Utc::now() + chrono::Duration::seconds(300)).to_rfc2822();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert!(retry_after(&headers).is_some_and(|d| d.as_secs() > 200));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }
}
