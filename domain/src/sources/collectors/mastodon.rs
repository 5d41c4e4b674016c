//! Mastodon: the public hashtag timeline (`/api/v1/timelines/tag/:tag`), status search
//! (`/api/v2/search?type=statuses`) and an account's statuses
//! (`/api/v1/accounts/:id/statuses`, the id found once with `/api/v1/accounts/lookup`
//! and kept in the cursor), read forward from the newest status seen with `min_id`, up
//! to [`MAX_PAGES`] pages of 40 per poll.

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::{CollectError, Collector, MAX_PAGES, Poll, clip, count, get, json};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention};
use crate::platform::outbound::Http;
use crate::platform::text::strip_html;

pub struct MastodonCollector;

const PAGE: usize = 40;

/// A status as Mastodon serves it (the fields Vigie reads).
#[derive(Debug, Deserialize)]
pub struct Status {
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub content: String,
    pub url: Option<String>,
    pub uri: String,
    pub in_reply_to_id: Option<String>,
    pub in_reply_to_account_id: Option<String>,
    #[serde(default)]
    pub visibility: String,
    pub language: Option<String>,
    #[serde(default)]
    pub replies_count: i64,
    #[serde(default)]
    pub reblogs_count: i64,
    #[serde(default)]
    pub favourites_count: i64,
    pub account: Account,
    #[serde(default)]
    pub spoiler_text: String,
    /// The accounts the status mentions; a reply's parent author is among them.
    #[serde(default)]
    pub mentions: Vec<Mentioned>,
}

/// An account a status mentions.
#[derive(Debug, Deserialize)]
pub struct Mentioned {
    pub id: String,
    pub acct: String,
}

/// An account as Mastodon serves it.
#[derive(Debug, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub id: String,
    pub acct: String,
    pub username: String,
    pub display_name: String,
    pub url: Option<String>,
    #[serde(default)]
    pub followers_count: i64,
    #[serde(default)]
    pub following_count: i64,
    #[serde(default)]
    pub bot: bool,
    /// When the account was made (Mastodon gives the day, at midnight UTC).
    #[serde(default)]
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
struct Search {
    statuses: Vec<Status>,
}

/// Mastodon ids are decimal strings that grow with time; longer means newer.
fn newer(a: &str, b: &str) -> bool {
    (a.len(), a) > (b.len(), b)
}

pub(super) fn to_mention(status: Status, instance_host: &str) -> NewMention {
    let text = strip_html(&status.content);
    let text = if status.spoiler_text.is_empty() { text } else { format!("{} — {text}", status.spoiler_text) };
    // `acct` is `user` for local accounts and `user@host` for remote ones. An instance
    // vouches only for its own accounts: what it says of remote ones (or of any account,
    // if it is an instance a tenant set up) must not rewrite the profile others see.
    let authoritative = match status.account.acct.split_once('@') {
        Some((_, host)) => host.eq_ignore_ascii_case(instance_host),
        None => !instance_host.is_empty(),
    };
    let handle = full_handle(&status.account.acct, instance_host);
    // The parent's author is among the mentions, unless the author answers themself.
    let in_reply_to_author = status.in_reply_to_account_id.as_deref().and_then(|id| {
        if id == status.account.id {
            Some(handle.clone())
        } else {
            status.mentions.iter().find(|m| m.id == id).map(|m| full_handle(&m.acct, instance_host))
        }
    });
    NewMention {
        external_id: status.uri.chars().take(255).collect(),
        network: "mastodon".into(),
        url: status.url.or(Some(status.uri)),
        text: clip(text),
        lang: status.language.filter(|l| l.len() == 2),
        published_at: status.created_at,
        author: NewAuthor {
            handle,
            display_name: Some(status.account.display_name).filter(|n| !n.is_empty()),
            profile_url: status.account.url,
            followers: Some(count(status.account.followers_count)),
            following: Some(count(status.account.following_count)),
            verified: false,
            account_created_at: status.account.created_at,
            authoritative,
        },
        likes: count(status.favourites_count),
        shares: count(status.reblogs_count),
        replies: count(status.replies_count),
        views: 0,
        in_reply_to: status.in_reply_to_id,
        in_reply_to_author,
        direct: status.visibility == "direct",
        rating: None,
    }
}

/// `user@host` for an `acct`, which is `user` for the instance's own accounts.
fn full_handle(acct: &str, instance_host: &str) -> String {
    let full = if acct.contains('@') { acct.to_owned() } else { format!("{acct}@{instance_host}") };
    full.to_lowercase()
}

#[async_trait::async_trait]
impl Collector for MastodonCollector {
    async fn poll(
        &self,
        http: &Http,
        source: &source::Model,
        _: Option<&crate::connections::Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let endpoint = source.endpoint.as_deref().unwrap_or("https://mastodon.social").trim_end_matches('/');
        let host = url::Url::parse(endpoint).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        let mut min_id = source.cursor.as_ref().and_then(|c| c["min_id"].as_str()).map(str::to_owned);
        let account_id = match source.kind.as_str() {
            "account" => Some(account_id(http, endpoint, source).await?),
            _ => None,
        };
        let mut poll = Poll::default();
        for page in 0..MAX_PAGES {
            let mut url = match (source.kind.as_str(), &account_id) {
                ("hashtag", _) => url::Url::parse(&format!("{endpoint}/api/v1/timelines/tag/"))
                    .and_then(|u| u.join(&urlencode(source.target.trim_start_matches('#')))),
                (_, Some(id)) => url::Url::parse(&format!("{endpoint}/api/v1/accounts/{}/statuses", urlencode(id))),
                _ => url::Url::parse(&format!("{endpoint}/api/v2/search")),
            }
            .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("limit", &PAGE.to_string());
                if account_id.is_some() {
                    query.append_pair("exclude_reblogs", "true");
                } else if source.kind != "hashtag" {
                    query
                        .append_pair("q", &source.target)
                        .append_pair("type", "statuses")
                        .append_pair("resolve", "false");
                }
                if let Some(min_id) = &min_id {
                    query.append_pair("min_id", min_id);
                }
            }
            let fetched = match get(http, url.as_str(), HeaderMap::new()).await {
                Ok(fetched) => fetched,
                Err(e) if page > 0 => {
                    poll.incomplete = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            poll.quota = crate::platform::outbound::quota(&fetched.headers).or(poll.quota);
            let statuses = if source.kind != "search" {
                json::<Vec<Status>>(&fetched.body, "Mastodon statuses")
            } else {
                json::<Search>(&fetched.body, "Mastodon search results").map(|s| s.statuses)
            };
            let statuses = match statuses {
                Ok(statuses) => statuses,
                Err(e) if page > 0 => {
                    poll.incomplete = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            let count = statuses.len();
            let newest = statuses.iter().map(|s| s.id.as_str()).fold(None::<&str>, |best, id| match best {
                Some(b) if !newer(id, b) => Some(b),
                _ => Some(id),
            });
            let advanced = match (newest, &min_id) {
                (Some(n), Some(m)) => newer(n, m),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if advanced {
                min_id = newest.map(str::to_owned);
            }
            poll.mentions.extend(statuses.into_iter().map(|s| to_mention(s, &host)));
            // The first poll of a source starts from now: one page, no backfill.
            if count < PAGE || !advanced || source.cursor.is_none() {
                break;
            }
        }
        poll.cursor = match (min_id, account_id) {
            (Some(min_id), Some(account)) => Some(json!({ "min_id": min_id, "account_id": account })),
            (None, Some(account)) => Some(json!({ "account_id": account })),
            (Some(min_id), None) => Some(json!({ "min_id": min_id })),
            (None, None) => None,
        };
        Ok(poll)
    }
}

/// The instance's id of the followed account: from the cursor, or looked up once.
async fn account_id(http: &Http, endpoint: &str, source: &source::Model) -> Result<String, CollectError> {
    if let Some(id) = source.cursor.as_ref().and_then(|c| c["account_id"].as_str()) {
        return Ok(id.to_owned());
    }
    let mut url = url::Url::parse(&format!("{endpoint}/api/v1/accounts/lookup"))
        .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().append_pair("acct", &source.target);
    let fetched = get(http, url.as_str(), HeaderMap::new()).await?;
    let account: Account = json(&fetched.body, "Mastodon account")?;
    if account.id.is_empty() {
        return Err(CollectError::Malformed("Mastodon account without an id".into()));
    }
    Ok(account.id)
}

fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_ids_and_names_remote_accounts() {
        assert!(newer("110000000000000010", "99999999999999999"));
        assert!(!newer("110", "111"));
        let status: Status = serde_json::from_value(serde_json::json!({
            "id": "1", "created_at": "2026-11-20T10:00:00.000Z", "content": "<p>Hello <span>@verdure</span></p>",
            "url": null, "uri": "https://remote.example/users/lou/statuses/1", "in_reply_to_id": null,
            "in_reply_to_account_id": null, "visibility": "public", "language": "en", "replies_count": 1,
            "reblogs_count": 2, "favourites_count": 3, "spoiler_text": "",
            "account": { "id": "9", "username": "lou", "acct": "lou@remote.example", "display_name": "Lou",
                         "url": "https://remote.example/@lou", "followers_count": 10, "following_count": 5, "bot": false }
        }))
        .unwrap();
        let m = to_mention(status, "mastodon.social");
        assert_eq!(m.author.handle, "lou@remote.example");
        assert!(!m.author.authoritative, "mastodon.social does not vouch for remote.example's accounts");
        assert_eq!(m.text, "Hello @verdure");
        assert_eq!((m.likes, m.shares, m.replies), (3, 2, 1));
    }
}
