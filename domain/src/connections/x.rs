//! X API v2 through an OAuth 2.0 connection (`api.x.com/2`): whose account the tokens
//! open, and posts published and looked up as that account.
//!
//! X says what is left of each endpoint's window in `x-rate-limit-remaining` and
//! `x-rate-limit-reset` (a Unix time), which the credential keeps as the connection's
//! quota; a 429 waits for the reset. Refusals come as RFC 7807 problems (`detail`,
//! `title`). Access tokens last two hours and refresh tokens serve once: each renewal
//! stores the new pair (see the credential).

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;

use super::oauth::Identity;
use super::{Credential, PublishError, Published};
use crate::platform::outbound::{Fetched, Http, quota, retry_after};

/// The longest post X takes, in weighted characters (see [`weighted_length`]).
pub const MAX_POST_WEIGHT: usize = 280;
/// What any link weighs once X has shortened it (`t.co`).
const LINK_WEIGHT: usize = 23;

/// A post's link on x.com.
pub fn link(username: &str, id: &str) -> String {
    format!("https://x.com/{username}/status/{id}")
}

/// A post's length as X counts it: a link weighs 23, a character from the Latin,
/// general punctuation and similar ranges 1, any other (CJK, emoji) 2.
pub fn weighted_length(text: &str) -> usize {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let bare = word.trim_end();
            if bare.starts_with("http://") || bare.starts_with("https://") {
                LINK_WEIGHT + word[bare.len()..].chars().count()
            } else {
                word.chars().map(char_weight).sum()
            }
        })
        .sum()
}

fn char_weight(c: char) -> usize {
    match u32::from(c) {
        0..=4351 | 8192..=8205 | 8208..=8223 | 8242..=8247 => 1,
        _ => 2,
    }
}

#[derive(Deserialize)]
struct Data<T> {
    data: Option<T>,
}

#[derive(Deserialize)]
struct Me {
    id: String,
    #[serde(default)]
    username: String,
}

/// The account the access token acts as (`/users/me`): its numeric id and username.
pub(crate) async fn whoami(http: &Http, api: &url::Url, access_token: &str) -> Result<Identity, String> {
    let url = format!("{}/users/me", api.as_str().trim_end_matches('/'));
    let fetched = super::get_as(http, &url, access_token).await?;
    if fetched.status != 200 {
        return Err(format!("HTTP {} from X {}", fetched.status, problem(&fetched.body)).trim().to_owned());
    }
    let me: Data<Me> = serde_json::from_slice(&fetched.body).map_err(|e| format!("malformed account: {e}"))?;
    let me = me.data.filter(|m| is_id(&m.id) && !m.username.is_empty()).ok_or("X named no account")?;
    Ok(Identity { id: me.id, name: me.username })
}

/// What an X problem says (`detail`, else `title`), kept short for `lastError`.
pub(crate) fn problem(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Problem {
        detail: Option<String>,
        title: Option<String>,
    }
    serde_json::from_slice::<Problem>(body)
        .ok()
        .and_then(|p| p.detail.or(p.title))
        .map(|why| why.chars().filter(|c| !c.is_control()).take(160).collect())
        .unwrap_or_default()
}

/// How long X asks to wait: `Retry-After`, else the window's reset.
pub(crate) fn wait_of(headers: &HeaderMap) -> Option<std::time::Duration> {
    retry_after(headers).or_else(|| quota(headers)?.resets_at.and_then(|at| (at - Utc::now()).to_std().ok()))
}

/// Reads an answer: its body on 2xx, else a refusal or a passing failure.
fn answer(fetched: Fetched, what: &str) -> Result<Vec<u8>, PublishError> {
    match fetched.status {
        200..=299 => Ok(fetched.body),
        429 => Err(PublishError::Transient {
            reason: format!("X rate-limited {what}"),
            retry_after: wait_of(&fetched.headers),
        }),
        500..=599 => Err(PublishError::transient(format!("HTTP {} from X on {what}", fetched.status))),
        status => Err(PublishError::Refused(
            format!("HTTP {status} from X on {what}: {}", problem(&fetched.body)).trim_end_matches(": ").to_owned(),
        )),
    }
}

/// Publishes `text` as the connection's reply to post `parent` (`POST /tweets`).
pub async fn reply(credential: &Credential<'_>, parent: &str, text: &str) -> Result<Published, PublishError> {
    #[derive(Deserialize)]
    struct Created {
        id: String,
    }
    let endpoint = credential.endpoint().await;
    let url = format!("{}/tweets", endpoint.trim_end_matches('/'));
    let body = serde_json::json!({ "text": text, "reply": { "in_reply_to_tweet_id": parent } });
    let answer = answer(credential.request(&url, Some(&body)).await?, "POST /tweets")?;
    let created: Data<Created> =
        serde_json::from_slice(&answer).map_err(|_| PublishError::transient("a malformed answer from X"))?;
    let id = created.data.map(|c| c.id).filter(|id| !id.is_empty());
    let id = id.ok_or_else(|| PublishError::transient("X took the post without naming it"))?;
    let (_, username) = credential.account().await;
    Ok(Published { url: link(&username, &id), id })
}

/// A post as the API describes it, with what Vigie reads of it.
#[derive(Debug, Default, Deserialize)]
pub struct Post {
    pub id: String,
    #[serde(default)]
    pub text: String,
    pub author_id: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub in_reply_to_user_id: Option<String>,
    pub lang: Option<String>,
    #[serde(default)]
    pub referenced_tweets: Vec<Reference>,
    pub public_metrics: Option<PostMetrics>,
}

#[derive(Debug, Deserialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct PostMetrics {
    #[serde(default)]
    pub retweet_count: i64,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default)]
    pub like_count: i64,
    #[serde(default)]
    pub quote_count: i64,
    pub impression_count: Option<i64>,
}

impl Post {
    /// The post it answers, if it is a reply.
    pub fn replied_to(&self) -> Option<&str> {
        self.referenced_tweets.iter().find(|r| r.kind == "replied_to").map(|r| r.id.as_str())
    }

    /// Its text as people read it: X escapes `&`, `<` and `>` as HTML entities.
    pub fn plain_text(&self) -> String {
        html_escape::decode_html_entities(&self.text).into_owned()
    }
}

/// A text as X gives it back, for comparison with what was sent: entities decoded,
/// the mentions X puts before a reply dropped, links (which X shortens) and spacing
/// folded.
fn comparable(text: &str) -> String {
    let decoded = html_escape::decode_html_entities(text);
    let mut words = decoded.split_whitespace().peekable();
    while words.peek().is_some_and(|w| w.starts_with('@')) {
        words.next();
    }
    words
        .map(|w| if w.starts_with("http://") || w.starts_with("https://") { "<link>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The connection's reply to `parent` with `text` made since `since` and not among the
/// ids `taken` by other replies, if any, among its posts of that time: X takes no key
/// from the caller, so this is how a retry knows that an earlier attempt went through.
pub async fn find_reply(
    credential: &Credential<'_>,
    parent: &str,
    text: &str,
    since: DateTime<Utc>,
    taken: &[String],
) -> Result<Option<Published>, PublishError> {
    #[derive(Deserialize)]
    struct Timeline {
        data: Option<Vec<Post>>,
        meta: Option<TimelineMeta>,
    }
    #[derive(Deserialize)]
    struct TimelineMeta {
        next_token: Option<String>,
    }
    let (id, username) = credential.account().await;
    let id = id.filter(|id| is_id(id)).ok_or_else(|| PublishError::Refused("the connection has no X id".into()))?;
    let endpoint = credential.endpoint().await;
    let start = (since - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let wanted = comparable(text);
    let mut token: Option<String> = None;
    // The account's posts since the reply was asked for, a few pages at most.
    for _ in 0..FIND_PAGES {
        let mut url = url::Url::parse(&format!("{}/users/{id}/tweets", endpoint.trim_end_matches('/')))
            .map_err(|e| PublishError::Refused(format!("bad endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("max_results", "100")
            .append_pair("start_time", &start)
            .append_pair("exclude", "retweets")
            .append_pair("tweet.fields", "created_at,referenced_tweets");
        if let Some(token) = &token {
            url.query_pairs_mut().append_pair("pagination_token", token);
        }
        let body = answer(credential.request(url.as_str(), None).await?, "the account's posts")?;
        let page: Timeline =
            serde_json::from_slice(&body).map_err(|_| PublishError::transient("a malformed timeline from X"))?;
        let found = page
            .data
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.replied_to() == Some(parent) && comparable(&p.text) == wanted && !taken.contains(&p.id));
        if let Some(p) = found {
            return Ok(Some(Published { url: link(&username, &p.id), id: p.id }));
        }
        match page.meta.and_then(|m| m.next_token) {
            Some(next) => token = Some(next),
            None => return Ok(None),
        }
    }
    Ok(None)
}

/// Pages of the account's posts read when looking for an earlier attempt's reply.
const FIND_PAGES: usize = 5;

/// Whether `id` is an X id as it may go into a path: digits, within 64 bits.
pub fn is_id(id: &str) -> bool {
    (1..=19).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighs_posts_as_x_does() {
        assert_eq!(weighted_length("Merci !"), 7);
        assert_eq!(weighted_length("voir https://verdure.example/a/very/long/path?x=1 merci"), 5 + 23 + 6);
        assert_eq!(weighted_length("日本"), 4);
        assert_eq!(weighted_length("🌱"), 2);
        assert_eq!(weighted_length(&"é".repeat(280)), 280);
    }

    #[test]
    fn compares_texts_as_x_returns_them() {
        assert_eq!(
            comparable("@lou @verdure_fr Merci &amp; à bientôt https://t.co/abc"),
            comparable("Merci & à bientôt  https://verdure.example/shops")
        );
        assert_ne!(comparable("Merci"), comparable("Merci beaucoup"));
    }
}
