//! Bluesky: `app.bsky.feed.searchPosts` (search sources) or `app.bsky.feed.getAuthorFeed`
//! (account sources, the account's own posts without reposts) on an AppView (default the
//! public one). Both answer newest first; a poll reads from the top, following `cursor`
//! for up to [`MAX_PAGES`] pages of 100, until it reaches the newest post seen before
//! (`since`: searchPosts filters on it, the author feed is cut there). Neither carries
//! follower counts, so Bluesky authors keep the counts they had.

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::{CollectError, Collector, MAX_PAGES, Poll, clip, count, get, json};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention};
use crate::outbound::Http;

pub struct BlueskyCollector;

const PAGE: usize = 100;

#[derive(Debug, Deserialize)]
pub(super) struct SearchPosts {
    cursor: Option<String>,
    pub(super) posts: Vec<PostView>,
}

#[derive(Debug, Deserialize)]
struct AuthorFeed {
    cursor: Option<String>,
    feed: Vec<FeedViewPost>,
}

#[derive(Debug, Deserialize)]
struct FeedViewPost {
    post: PostView,
    /// Set on reposts, which are someone else's posts.
    reason: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PostView {
    uri: String,
    author: ProfileViewBasic,
    record: PostRecord,
    #[serde(default)]
    reply_count: i64,
    #[serde(default)]
    repost_count: i64,
    #[serde(default)]
    like_count: i64,
    #[serde(default)]
    quote_count: i64,
    indexed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileViewBasic {
    handle: String,
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostRecord {
    #[serde(default)]
    text: String,
    created_at: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    langs: Vec<String>,
    reply: Option<serde_json::Value>,
}

pub(super) fn to_mention(post: PostView) -> NewMention {
    let rkey = post.uri.rsplit('/').next().unwrap_or_default().to_owned();
    let handle = post.author.handle.to_lowercase();
    NewMention {
        url: Some(format!("https://bsky.app/profile/{handle}/post/{rkey}")),
        external_id: post.uri.chars().take(255).collect(),
        network: "bluesky".into(),
        text: clip(post.record.text),
        lang: post.record.langs.first().map(|l| l.chars().take(2).collect::<String>().to_lowercase()),
        published_at: post.record.created_at,
        author: NewAuthor {
            profile_url: Some(format!("https://bsky.app/profile/{handle}")),
            handle,
            display_name: post.author.display_name.filter(|n| !n.is_empty()),
            followers: None,
            following: None,
            verified: false,
            // The endpoint is the tenant's choice, not the account's host.
            authoritative: false,
        },
        likes: count(post.like_count),
        shares: count(post.repost_count).saturating_add(count(post.quote_count)),
        replies: count(post.reply_count),
        views: 0,
        in_reply_to: post.record.reply.as_ref().and_then(|r| r["parent"]["uri"].as_str()).map(str::to_owned),
        direct: false,
    }
}

#[async_trait::async_trait]
impl Collector for BlueskyCollector {
    async fn poll(&self, http: &Http, source: &source::Model) -> Result<Poll, CollectError> {
        let endpoint = source.endpoint.as_deref().unwrap_or("https://public.api.bsky.app").trim_end_matches('/');
        let since = source.cursor.as_ref().and_then(|c| c["since"].as_str()).map(str::to_owned);
        let mut newest = since.clone();
        let mut page_cursor: Option<String> = None;
        let mut poll = Poll::default();
        for page in 0..MAX_PAGES {
            let account = source.kind == "account";
            let method = if account { "app.bsky.feed.getAuthorFeed" } else { "app.bsky.feed.searchPosts" };
            let mut url = url::Url::parse(&format!("{endpoint}/xrpc/{method}"))
                .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
            {
                let mut query = url.query_pairs_mut();
                if account {
                    query.append_pair("actor", &source.target).append_pair("filter", "posts_no_replies");
                } else {
                    query.append_pair("q", &source.target).append_pair("sort", "latest");
                    if let Some(since) = &since {
                        query.append_pair("since", since);
                    }
                }
                query.append_pair("limit", &PAGE.to_string());
                if let Some(cursor) = &page_cursor {
                    query.append_pair("cursor", cursor);
                }
            }
            let result = match get(http, url.as_str(), HeaderMap::new()).await {
                Ok(fetched) if account => json::<AuthorFeed>(&fetched.body, "Bluesky getAuthorFeed").map(|f| {
                    let read = f.feed.len();
                    let posts = f.feed.into_iter().filter(|item| item.reason.is_none()).map(|item| item.post).collect();
                    (SearchPosts { cursor: f.cursor, posts }, read)
                }),
                Ok(fetched) => json::<SearchPosts>(&fetched.body, "Bluesky searchPosts").map(|r| {
                    let read = r.posts.len();
                    (r, read)
                }),
                Err(e) => Err(e),
            };
            let result = match result {
                Ok(result) => result,
                Err(e) if page > 0 => {
                    poll.incomplete = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            let (mut result, count) = result;
            // The author feed has no `since`: stop at the first post already seen.
            let before = result.posts.len();
            if let Some(since) = since.as_ref().filter(|_| account) {
                result.posts.retain(|p| p.indexed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true) > *since);
            }
            let reached_seen = result.posts.len() < before;
            for post in &result.posts {
                let at = post.indexed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                if newest.as_ref().is_none_or(|n| at > *n) {
                    newest = Some(at);
                }
            }
            poll.mentions.extend(result.posts.into_iter().map(to_mention));
            page_cursor = result.cursor;
            // The first poll starts from now: one page, no backfill.
            if count < PAGE || page_cursor.is_none() || since.is_none() || reached_seen {
                break;
            }
        }
        poll.cursor = newest.map(|n| json!({ "since": n }));
        Ok(poll)
    }
}
