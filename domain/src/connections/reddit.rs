//! Reddit's API through an OAuth connection (`oauth.reddit.com`): whose account the
//! tokens open, and comments posted and looked up as that account.
//!
//! Reddit limits each account's calls per window and says so in `X-Ratelimit-*`
//! headers, which the credential keeps as the connection's quota. `/api/comment`
//! answers 200 with its refusals in `json.errors` (`THREAD_LOCKED`, `RATELIMIT`…).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::oauth::Identity;
use super::{Credential, PublishError, Published};
use crate::platform::outbound::{Fetched, Http};

/// The longest comment Reddit takes, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// A link on reddit.com from an API permalink (`/r/…/comments/…`).
pub fn link(permalink: &str) -> String {
    format!("https://www.reddit.com{permalink}")
}

#[derive(Deserialize)]
struct Me {
    #[serde(default)]
    id: String,
    name: String,
}

/// The account the access token acts as (`/api/v1/me`).
pub(crate) async fn whoami(http: &Http, api: &url::Url, access_token: &str) -> Result<Identity, String> {
    let url = format!("{}/api/v1/me?raw_json=1", api.as_str().trim_end_matches('/'));
    let fetched = super::get_as(http, &url, access_token).await?;
    if fetched.status != 200 {
        return Err(format!("HTTP {} from Reddit", fetched.status));
    }
    let me: Me = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed account: {e}"))?;
    if me.name.is_empty() {
        return Err("Reddit named no account".into());
    }
    let id = if me.id.is_empty() { me.name.to_lowercase() } else { format!("t2_{}", me.id) };
    Ok(Identity { id, name: me.name })
}

/// A comment as the API describes it (`t1` data).
#[derive(Debug, Deserialize)]
pub struct CommentData {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub parent_id: String,
    #[serde(default)]
    pub permalink: String,
    #[serde(default)]
    pub created_utc: f64,
}

#[derive(Deserialize)]
struct Thing<T> {
    data: T,
}

#[derive(Deserialize)]
struct Listing<T> {
    data: ListingData<T>,
}

#[derive(Deserialize)]
struct ListingData<T> {
    #[serde(default = "Vec::new")]
    children: Vec<Thing<T>>,
}

/// Reads an answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: Fetched, what: &str) -> Result<Vec<u8>, PublishError> {
    match fetched.status {
        200..=299 => Ok(fetched.body),
        429 => Err(PublishError::Transient {
            reason: format!("Reddit rate-limited {what}"),
            retry_after: crate::platform::outbound::retry_after(&fetched.headers).or_else(|| {
                crate::platform::outbound::quota(&fetched.headers)
                    .and_then(|q| q.resets_at)
                    .and_then(|at| (at - Utc::now()).to_std().ok())
            }),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from Reddit on {what}", fetched.status))),
        status => Err(PublishError::Refused(format!("HTTP {status} from Reddit on {what}"))),
    }
}

/// Posts `text` as the connection's reply to `parent` (a post `t3_…` or a comment
/// `t1_…`), with `/api/comment`.
pub async fn reply(credential: &Credential<'_>, parent: &str, text: &str) -> Result<Published, PublishError> {
    #[derive(Deserialize)]
    struct Answer {
        json: AnswerJson,
    }
    #[derive(Deserialize)]
    struct AnswerJson {
        #[serde(default)]
        errors: Vec<Vec<serde_json::Value>>,
        data: Option<AnswerData>,
    }
    #[derive(Deserialize)]
    struct AnswerData {
        #[serde(default)]
        things: Vec<Thing<CommentData>>,
    }
    let endpoint = credential.endpoint().await;
    let url = format!("{}/api/comment", endpoint.trim_end_matches('/'));
    let form = [("api_type", "json"), ("thing_id", parent), ("text", text), ("raw_json", "1")];
    let body = answer(credential.post_form(&url, &form).await?, "/api/comment")?;
    let answer: Answer = serde_json::from_slice(&body)
        .map_err(|_| PublishError::transient("a malformed /api/comment answer from Reddit"))?;
    if let Some(error) = answer.json.errors.first() {
        let code: String = error.first().and_then(|c| c.as_str()).unwrap_or("ERROR").chars().take(40).collect();
        let detail: String = error.get(1).and_then(|c| c.as_str()).unwrap_or_default().chars().take(120).collect();
        // "you are doing that too much. try again in 5 minutes."
        return Err(if code == "RATELIMIT" {
            PublishError::Transient {
                reason: format!("Reddit: {code} {detail}"),
                retry_after: Some(std::time::Duration::from_secs(600)),
            }
        } else {
            PublishError::Refused(format!("Reddit: {code} {detail}").trim().to_owned())
        });
    }
    let comment = answer
        .json
        .data
        .and_then(|d| d.things.into_iter().next())
        .map(|t| t.data)
        .ok_or_else(|| PublishError::transient("Reddit took the comment without naming it"))?;
    Ok(Published { url: link(&comment.permalink), id: comment.name })
}

/// The connection's comment on `parent` with `text` made since `since` and not among
/// the ids `taken` by other replies, if any, among its newest comments: Reddit takes no key from the caller, so this is how a
/// retry knows that an earlier attempt went through.
pub async fn find_reply(
    credential: &Credential<'_>,
    parent: &str,
    text: &str,
    since: DateTime<Utc>,
    taken: &[String],
) -> Result<Option<Published>, PublishError> {
    let (_, name) = credential.account().await;
    let endpoint = credential.endpoint().await;
    let mut url = url::Url::parse(&format!("{}/user/{name}/comments", endpoint.trim_end_matches('/')))
        .map_err(|e| PublishError::Refused(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().append_pair("sort", "new").append_pair("limit", "100").append_pair("raw_json", "1");
    let body = answer(credential.request(url.as_str(), None).await?, "the account's comments")?;
    let listing: Listing<CommentData> = serde_json::from_slice(&body)
        .map_err(|_| PublishError::transient("a malformed comment listing from Reddit"))?;
    let since = since.timestamp() as f64 - 60.0;
    let same = |a: &str| a.replace("\r\n", "\n").trim() == text.replace("\r\n", "\n").trim();
    Ok(listing
        .data
        .children
        .into_iter()
        .map(|t| t.data)
        .find(|c| c.parent_id == parent && c.created_utc >= since && same(&c.body) && !taken.contains(&c.name))
        .map(|c| Published { url: link(&c.permalink), id: c.name }))
}
