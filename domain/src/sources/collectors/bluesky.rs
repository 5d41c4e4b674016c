//! Bluesky: `app.bsky.feed.searchPosts` (search sources) or `app.bsky.feed.getAuthorFeed`
//! (account sources, the account's own posts without reposts) on an AppView (default the
//! public one). Both answer newest first; a poll reads from the top, following `cursor`
//! for up to [`MAX_PAGES`] pages of 100, until it reaches the newest post seen before
//! (`since`: searchPosts filters on it, the author feed is cut there). Posts carry no
//! follower counts: `app.bsky.actor.getProfiles` gives those of the page's authors
//! (and their verification), kept on the mentions so that influence ranks Bluesky
//! authors on their reach. A reply names its parent by URI, whose authority is the
//! parent author's DID: the same lookup turns those DIDs into handles.
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
use crate::platform::outbound::{Fetched, Http, Quota, quota};

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
    profiles: Vec<ProfileViewDetailed>,
}

/// A profile as `getProfiles` gives it, with its counts.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileViewDetailed {
    #[serde(default)]
    did: String,
    handle: String,
    followers_count: Option<i64>,
    follows_count: Option<i64>,
    verification: Option<Verification>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verification {
    #[serde(default)]
    verified_status: String,
}

/// What a poll knows of an account: its handle, and its counts once looked up.
#[derive(Clone, Debug, Default)]
pub(super) struct Known {
    handle: String,
    followers: Option<i64>,
    following: Option<i64>,
    verified: bool,
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

/// The accounts of a page, by DID: its authors, with their follower counts and
/// verification (posts carry neither), and the authors of the posts its replies answer
/// (to read a reply as addressed to the brand). Profiles are looked up once a poll
/// (`looked_up` keeps them across its pages). A 429 stops the poll, so that the source
/// backs off; any other failed lookup leaves the rest as the page gave them: its posts
/// are stored either way. Also gives the quota the last lookup reported.
async fn accounts_of(
    http: &Http,
    endpoint: &str,
    credential: Option<&Credential<'_>>,
    posts: &[PostView],
    looked_up: &mut HashMap<String, Known>,
) -> Result<(HashMap<String, Known>, Option<Quota>), CollectError> {
    let mut wanted: BTreeSet<&str> = posts.iter().map(|p| p.author.did.as_str()).collect();
    wanted.extend(posts.iter().filter_map(parent_author_did));
    wanted.retain(|did| !did.is_empty() && !looked_up.contains_key(*did));
    // A page's authors and the authors they answer: two pages' worth at most.
    let wanted: Vec<&str> = wanted.into_iter().take(2 * PAGE).collect();
    let mut quota = None;
    for chunk in wanted.chunks(PROFILES_PER_CALL) {
        match profiles(http, endpoint, credential, chunk).await {
            Ok((profiles, reported)) => {
                quota = reported.or(quota);
                // A profile without its DID could not be told from another.
                looked_up.extend(profiles.into_iter().filter(|p| !p.did.is_empty()).map(|p| {
                    let account = Known {
                        handle: p.handle.to_lowercase(),
                        followers: p.followers_count.map(count),
                        following: p.follows_count.map(count),
                        verified: p.verification.is_some_and(|v| v.verified_status == "valid"),
                    };
                    (p.did, account)
                }));
            }
            Err(e @ CollectError::RateLimited { .. }) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "Bluesky getProfiles failed: counts and replies left unresolved");
                break;
            }
        }
    }
    let mut known: HashMap<String, Known> = HashMap::new();
    for post in posts {
        let handle = post.author.handle.to_lowercase();
        known.entry(post.author.did.clone()).or_insert(Known { handle, ..Known::default() });
    }
    for did in posts.iter().map(|p| p.author.did.as_str()).chain(posts.iter().filter_map(parent_author_did)) {
        if let Some(account) = looked_up.get(did) {
            known.insert(did.to_owned(), account.clone());
        }
    }
    Ok((known, quota))
}

async fn profiles(
    http: &Http,
    endpoint: &str,
    credential: Option<&Credential<'_>>,
    dids: &[&str],
) -> Result<(Vec<ProfileViewDetailed>, Option<Quota>), CollectError> {
    let mut url = url::Url::parse(&format!("{endpoint}/xrpc/app.bsky.actor.getProfiles"))
        .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
    dids.iter().for_each(|did| {
        url.query_pairs_mut().append_pair("actors", did);
    });
    let fetched = fetch(http, url.as_str(), credential).await?;
    Ok((json::<Profiles>(&fetched.body, "Bluesky getProfiles")?.profiles, quota(&fetched.headers)))
}

pub(super) fn to_mention(post: PostView, accounts: &HashMap<String, Known>) -> NewMention {
    let in_reply_to_author = parent_author_did(&post).and_then(|did| accounts.get(did)).map(|a| a.handle.clone());
    let counts = accounts.get(&post.author.did).cloned().unwrap_or_default();
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
            followers: counts.followers,
            following: counts.following,
            verified: counts.verified,
            account_created_at: None,
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
        rating: None,
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
    /// [`accounts_of`] its posts.
    accounts: HashMap<String, Known>,
    /// What the last answer's rate-limit headers said of the quota.
    quota: Option<Quota>,
}

/// Fetches one page of an author feed (cut at `seen_until`, the newest post seen
/// before) or of a search, and the handles its replies answer.
async fn read_page(
    http: &Http,
    endpoint: &str,
    credential: Option<&Credential<'_>>,
    url: &url::Url,
    seen_until: Option<&str>,
    looked_up: &mut HashMap<String, Known>,
) -> Result<Page, CollectError> {
    let fetched = fetch(http, url.as_str(), credential).await?;
    let searched = quota(&fetched.headers);
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
    let (accounts, looked) = accounts_of(http, endpoint, credential, &posts, looked_up).await?;
    Ok(Page { posts, cursor, read, reached_seen, accounts, quota: looked.or(searched) })
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
        let mut looked_up = HashMap::new();
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
            let seen = since.as_deref().filter(|_| account);
            let page = match read_page(http, endpoint, credential, &url, seen, &mut looked_up).await {
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
            poll.quota = page.quota.or(poll.quota);
            poll.mentions.extend(page.posts.into_iter().map(|post| to_mention(post, &page.accounts)));
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
