//! Bluesky: `app.bsky.feed.searchPosts` (search sources) or `app.bsky.feed.getAuthorFeed`
//! (account sources, the account's own posts without reposts) on an AppView (default the
//! public one). Both answer newest first; a poll reads from the top, following `cursor`
//! for up to [`MAX_PAGES`] pages of 100, until it reaches the newest post seen before
//! (`since`: searchPosts filters on it, the author feed is cut there). Neither carries
//! follower counts, so Bluesky authors keep the counts they had. A reply names its
//! parent by URI, whose authority is the parent author's DID: the page's own authors and
//! `app.bsky.actor.getProfiles` turn those DIDs into handles.
//!
//! A source with a connection polls through the account's PDS with its access token
//! (the PDS forwards `app.bsky.*` calls to the AppView), renewed when Bluesky answers
//! `ExpiredToken`; anonymous sources call the AppView directly.

use std::collections::{BTreeSet, HashMap};

use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::json;

use super::{CollectError, Collector, MAX_PAGES, Poll, check, clip, count, json};
use crate::connections::Credential;
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention};
use crate::platform::outbound::{Fetched, Http};

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
    #[serde(default)]
    did: String,
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

#[derive(Debug, Deserialize)]
struct Profiles {
    profiles: Vec<ProfileViewBasic>,
}

/// GETs `url`, with the credential's access token when there is one.
async fn fetch(http: &Http, url: &str, credential: Option<&Credential<'_>>) -> Result<Fetched, CollectError> {
    match credential {
        Some(credential) => check(credential.request(url, None).await?),
        None => check(http.get(url, HeaderMap::new()).await?),
    }
}

/// `getProfiles` takes at most this many actors a call.
const PROFILES_PER_CALL: usize = 25;

/// The DID of the author of the post a reply answers (`at://did:plc:…/app.bsky.feed.post/…`).
fn parent_author_did(post: &PostView) -> Option<&str> {
    let uri = post.record.reply.as_ref()?["parent"]["uri"].as_str()?;
    uri.strip_prefix("at://")?.split('/').next().filter(|did| did.starts_with("did:"))
}

/// Handles, by DID, of the authors the page's replies answer: from the page's own
/// authors, then from `getProfiles` for the others (a page's worth at most: a page
/// holds no more replies). A failed lookup leaves the rest unresolved rather than
/// failing the page: its posts are stored either way, only not read as addressed.
async fn parent_handles(
    http: &Http,
    endpoint: &str,
    credential: Option<&Credential<'_>>,
    posts: &[PostView],
) -> HashMap<String, String> {
    let mut handles: HashMap<String, String> = HashMap::new();
    let wanted: BTreeSet<&str> = posts.iter().filter_map(parent_author_did).collect();
    for post in posts.iter().filter(|p| wanted.contains(p.author.did.as_str())) {
        handles.insert(post.author.did.clone(), post.author.handle.to_lowercase());
    }
    let unknown: Vec<&str> = wanted.into_iter().filter(|did| !handles.contains_key(*did)).take(PAGE).collect();
    for chunk in unknown.chunks(PROFILES_PER_CALL) {
        match profiles(http, endpoint, credential, chunk).await {
            Ok(profiles) => handles.extend(profiles.into_iter().map(|p| (p.did, p.handle.to_lowercase()))),
            Err(e) => {
                tracing::warn!(error = %e, "Bluesky getProfiles failed: replies left unresolved");
                break;
            }
        }
    }
    handles
}

async fn profiles(
    http: &Http,
    endpoint: &str,
    credential: Option<&Credential<'_>>,
    dids: &[&str],
) -> Result<Vec<ProfileViewBasic>, CollectError> {
    let mut url = url::Url::parse(&format!("{endpoint}/xrpc/app.bsky.actor.getProfiles"))
        .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
    dids.iter().for_each(|did| {
        url.query_pairs_mut().append_pair("actors", did);
    });
    let fetched = fetch(http, url.as_str(), credential).await?;
    Ok(json::<Profiles>(&fetched.body, "Bluesky getProfiles")?.profiles)
}

pub(super) fn to_mention(post: PostView, parents: &HashMap<String, String>) -> NewMention {
    let in_reply_to_author = parent_author_did(&post).and_then(|did| parents.get(did)).cloned();
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
        in_reply_to_author,
        direct: false,
    }
}

/// A page as a poll keeps it.
struct Page {
    posts: Vec<PostView>,
    cursor: Option<String>,
    /// How many items the network returned, reposts and posts seen before included.
    read: usize,
    /// Whether the page reached a post seen by an earlier poll.
    reached_seen: bool,
    /// [`parent_handles`] of its posts.
    parents: HashMap<String, String>,
}

/// Fetches one page of an author feed (cut at `seen_until`, the newest post seen
/// before) or of a search, and the handles its replies answer.
async fn read_page(
    http: &Http,
    endpoint: &str,
    credential: Option<&Credential<'_>>,
    url: &url::Url,
    seen_until: Option<&str>,
) -> Result<Page, CollectError> {
    let fetched = fetch(http, url.as_str(), credential).await?;
    let (mut posts, cursor, read) = if url.path().ends_with("getAuthorFeed") {
        let feed = json::<AuthorFeed>(&fetched.body, "Bluesky getAuthorFeed")?;
        let read = feed.feed.len();
        (feed.feed.into_iter().filter(|item| item.reason.is_none()).map(|item| item.post).collect(), feed.cursor, read)
    } else {
        let search = json::<SearchPosts>(&fetched.body, "Bluesky searchPosts")?;
        let read = search.posts.len();
        (search.posts, search.cursor, read)
    };
    // The author feed has no `since`: stop at the first post already seen.
    let before = posts.len();
    if let Some(seen_until) = seen_until {
        posts.retain(|p: &PostView| {
            p.indexed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).as_str() > seen_until
        });
    }
    let reached_seen = posts.len() < before;
    let parents = parent_handles(http, endpoint, credential, &posts).await;
    Ok(Page { posts, cursor, read, reached_seen, parents })
}

#[async_trait::async_trait]
impl Collector for BlueskyCollector {
    async fn poll(
        &self,
        http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let own = match credential {
            Some(credential) => Some(credential.endpoint().await),
            None => None,
        };
        let endpoint = own
            .as_deref()
            .or(source.endpoint.as_deref())
            .unwrap_or("https://public.api.bsky.app")
            .trim_end_matches('/');
        let since = source.cursor.as_ref().and_then(|c| c["since"].as_str()).map(str::to_owned);
        let mut newest = since.clone();
        let mut page_cursor: Option<String> = None;
        let mut poll = Poll::default();
        for index in 0..MAX_PAGES {
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
            let page = match read_page(http, endpoint, credential, &url, since.as_deref().filter(|_| account)).await {
                Ok(page) => page,
                Err(e) if index > 0 => {
                    poll.incomplete = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            for post in &page.posts {
                let at = post.indexed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
                if newest.as_ref().is_none_or(|n| at > *n) {
                    newest = Some(at);
                }
            }
            poll.mentions.extend(page.posts.into_iter().map(|post| to_mention(post, &page.parents)));
            page_cursor = page.cursor;
            // The first poll starts from now: one page, no backfill.
            if page.read < PAGE || page_cursor.is_none() || since.is_none() || page.reached_seen {
                break;
            }
        }
        poll.cursor = newest.map(|n| json!({ "since": n }));
        Ok(poll)
    }
}
