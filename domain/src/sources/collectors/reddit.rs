//! Reddit, always through an OAuth connection (`oauth.reddit.com`):
//!
//! - **search** sources: posts matching a query across Reddit (`/search?type=link&sort=new`);
//! - **community** sources: a subreddit's new posts (`/r/{name}/new`) and new comments
//!   (`/r/{name}/comments`).
//!
//! Listings come newest first, 100 a page, chained by `after`; a poll reads down to the
//! newest item seen (by `created_utc`, kept per listing in the cursor, less an overlap
//! for late items), at most [`MAX_PAGES`] pages, the next poll going on from the page
//! it did not read. `raw_json=1` keeps texts free of HTML entities. Reddit says what
//! is left of the account's rate limit in `X-Ratelimit-Remaining` / `-Reset` (seconds),
//! which the source and the connection show; a 429 waits for the reset. Reddit gives no
//! follower counts: authors are ranked on their posts' engagement.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CollectError, Collector, MAX_PAGES, Poll, clip, count};
use crate::connections::{Credential, reddit};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention, normalise_handle};
use crate::platform::outbound::Http;

pub struct RedditCollector;

#[derive(Debug, Deserialize)]
struct Listing {
    data: ListingData,
}

#[derive(Debug, Deserialize)]
struct ListingData {
    after: Option<String>,
    #[serde(default)]
    children: Vec<Thing>,
}

#[derive(Debug, Deserialize)]
struct Thing {
    #[serde(default)]
    kind: String,
    data: Item,
}

/// A post (`t3`) or a comment (`t1`): the fields both have, and each one's own.
#[derive(Debug, Deserialize)]
struct Item {
    #[serde(default)]
    name: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    permalink: String,
    #[serde(default)]
    created_utc: f64,
    #[serde(default)]
    score: i64,
    // Posts.
    #[serde(default)]
    title: String,
    #[serde(default)]
    selftext: String,
    #[serde(default)]
    num_comments: i64,
    // Comments.
    #[serde(default)]
    body: String,
    parent_id: Option<String>,
    link_author: Option<String>,
}

/// Authors Reddit shows when the account is gone.
fn gone(author: &str) -> bool {
    author.is_empty() || author == "[deleted]"
}

fn created(item: &Item) -> DateTime<Utc> {
    DateTime::from_timestamp_millis((item.created_utc * 1000.0) as i64).unwrap_or_default()
}

fn to_mention(thing: Thing) -> Option<NewMention> {
    let item = thing.data;
    if gone(&item.author) || item.name.is_empty() {
        return None;
    }
    let (text, in_reply_to, in_reply_to_author, replies) = match thing.kind.as_str() {
        "t3" => {
            let text = if item.selftext.is_empty() {
                item.title.clone()
            } else {
                format!("{}\n\n{}", item.title, item.selftext)
            };
            (text, None, None, item.num_comments)
        }
        "t1" => {
            // A top-level comment answers the post's author; a deeper one, a comment
            // whose author the listing does not give.
            let to_post = item.parent_id.as_deref().is_some_and(|p| p.starts_with("t3_"));
            let author = item.link_author.as_deref().filter(|a| to_post && !gone(a)).map(normalise_handle);
            (item.body.clone(), item.parent_id.clone(), author, 0)
        }
        _ => return None,
    };
    if text.is_empty() || text == "[removed]" || text == "[deleted]" {
        return None;
    }
    let published_at = created(&item);
    Some(NewMention {
        url: (!item.permalink.is_empty()).then(|| reddit::link(&item.permalink)),
        external_id: item.name.chars().take(255).collect(),
        network: "reddit".into(),
        text: clip(text),
        lang: None,
        published_at,
        author: NewAuthor {
            handle: normalise_handle(&item.author),
            display_name: Some(item.author.clone()),
            profile_url: Some(format!("https://www.reddit.com/user/{}", item.author)),
            followers: None,
            following: None,
            verified: false,
            account_created_at: None,
            authoritative: true,
        },
        likes: count(item.score),
        shares: 0,
        replies: count(replies),
        views: 0,
        in_reply_to,
        in_reply_to_author,
        direct: false,
        rating: None,
    })
}

/// Where a listing's reading stands: after `since` (the newest `created_utc` stored)
/// and, when the last poll stopped before reaching it, from `resume` (an `after`
/// fullname, which Reddit keeps stable), `newest` being the newest item it saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mark {
    since: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<f64>,
}

fn later(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Reads one listing (`path` with `query`) from `mark`, following `after`, down to
/// `overlap` seconds before what was seen (items created in the same second, and
/// search results indexed late, come back; they are stored once). Gives the new mark;
/// a later page's failure is the poll's `incomplete`, and the mark then resumes there.
async fn read_listing(
    credential: &Credential<'_>,
    endpoint: &str,
    path: &str,
    query: &[(&str, &str)],
    mark: &Mark,
    overlap: f64,
    poll: &mut Poll,
) -> Result<Mark, CollectError> {
    let since = mark.since;
    let floor = since.map(|s| s - overlap);
    let mut newest = None;
    let mut after = mark.resume.clone();
    for index in 0..MAX_PAGES {
        let mut url = url::Url::parse(&format!("{}{path}", endpoint.trim_end_matches('/')))
            .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
        url.query_pairs_mut().extend_pairs(query).append_pair("limit", "100").append_pair("raw_json", "1");
        if let Some(after) = &after {
            url.query_pairs_mut().append_pair("after", after);
        }
        let page = super::signed_page::<Listing>(credential, url.as_str(), "Reddit listing", poll).await;
        let page = match page {
            Ok(page) => page,
            Err(e) if index > 0 => {
                poll.incomplete = Some(e);
                return Ok(Mark { since, resume: after, newest: later(newest, mark.newest) });
            }
            Err(e) => return Err(e),
        };
        let read = page.data.children.len();
        let mut reached_seen = false;
        for thing in page.data.children {
            let at = thing.data.created_utc;
            if floor.is_some_and(|f| at <= f) {
                reached_seen = true;
                continue;
            }
            newest = later(newest, Some(at));
            poll.mentions.extend(to_mention(thing));
        }
        let next = page.data.after;
        // The first poll starts from now: one page, no backfill.
        if read == 0 || next.is_none() || since.is_none() || reached_seen {
            return Ok(Mark { since: later(later(newest, mark.newest), since), resume: None, newest: None });
        }
        after = next;
    }
    // The page budget is spent before reaching what was seen: go on from here next time.
    Ok(Mark { since, resume: after, newest: later(newest, mark.newest) })
}

/// The mark kept under `key` of a cursor (the cursor itself for `None`).
fn mark_of(cursor: Option<&Value>, key: Option<&str>) -> Mark {
    super::mark_of(match key {
        Some(key) => cursor.and_then(|c| c.get(key)),
        None => cursor,
    })
}

/// How far back a search looks before what it saw: Reddit's search indexes late.
const SEARCH_OVERLAP_SECS: f64 = 600.0;
/// Listings in creation order only repeat the newest second.
const LISTING_OVERLAP_SECS: f64 = 1.0;

#[async_trait::async_trait]
impl Collector for RedditCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "Reddit")?;
        let endpoint = credential.endpoint().await;
        let cursor = source.cursor.as_ref();
        let mut poll = Poll::default();
        if source.kind == "community" {
            let name = source.target.as_str();
            let (posts, comments) = (mark_of(cursor, Some("posts")), mark_of(cursor, Some("comments")));
            let new = format!("/r/{name}/new");
            let posts = read_listing(credential, &endpoint, &new, &[], &posts, LISTING_OVERLAP_SECS, &mut poll).await?;
            let comments = if poll.incomplete.is_none() {
                let path = format!("/r/{name}/comments");
                match read_listing(credential, &endpoint, &path, &[], &comments, LISTING_OVERLAP_SECS, &mut poll).await
                {
                    Ok(mark) => mark,
                    // The posts were read: keep them, and count the failure.
                    Err(e) => {
                        poll.incomplete = Some(e);
                        comments
                    }
                }
            } else {
                comments
            };
            poll.cursor = Some(json!({ "posts": posts, "comments": comments }));
        } else {
            let query = [("q", source.target.as_str()), ("sort", "new"), ("type", "link")];
            let mark = mark_of(cursor, None);
            let mark =
                read_listing(credential, &endpoint, "/search", &query, &mark, SEARCH_OVERLAP_SECS, &mut poll).await?;
            poll.cursor = Some(json!(mark));
        }
        Ok(poll)
    }
}
