//! YouTube Data API v3, always through an OAuth connection:
//!
//! - **account** sources (a channel id, `UC…`): the comment threads on the channel's
//!   videos (`commentThreads.list?allThreadsRelatedToChannelId`, newest first, 100 a
//!   page, a unit a page), each top-level comment and the replies the thread carries.
//!   Comments on the connection's own channel are addressed to the brand.
//! - **search** sources: videos matching a query (`search.list?type=video&order=date`,
//!   published after the newest one seen, 50 a page, a hundred units a page, so at most
//!   [`SEARCH_PAGES`] pages a poll).
//!
//! Authors are channels: `channels.list?part=snippet,statistics` gives their handles
//! and subscriber counts (a unit per 50), so influence ranks them on their reach.
//! Units are counted against the connection before each call; `quotaExceeded` spends
//! the rest of the day. Google's error bodies name their reason; an expired token is a
//! 401, renewed once by the credential.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::json;

use super::{CollectError, Collector, MAX_PAGES, Poll, check, clip, count, json};
use crate::connections::Credential;
use crate::connections::youtube::{self, LIST_COST, SEARCH_COST, Use};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention, normalise_handle};
use crate::platform::outbound::{Fetched, Http, Quota};

pub struct YoutubeCollector;

/// Search pages read per poll: each costs a hundred units.
pub const SEARCH_PAGES: usize = 2;
/// The shortest interval between two polls of a search: 24 a day, 2,400 units when one
/// page reaches what was seen, 4,800 at most.
pub const SEARCH_INTERVAL_SECS: i32 = 3_600;
/// How far back a search looks before the newest video seen: search indexes videos
/// late, and what it finds again is stored once.
const SEARCH_OVERLAP: chrono::Duration = chrono::Duration::hours(2);
/// Threads per poll whose replies are read in full (`comments.list`), when the thread
/// carries only some of them.
const MAX_FULL_THREADS: usize = 10;
/// Channels looked up per poll (two calls of 50).
const MAX_LOOKUPS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentThreads {
    next_page_token: Option<String>,
    #[serde(default)]
    items: Vec<CommentThread>,
}

#[derive(Debug, Deserialize)]
struct CommentThread {
    snippet: ThreadSnippet,
    replies: Option<ThreadReplies>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadSnippet {
    video_id: Option<String>,
    top_level_comment: Comment,
    #[serde(default)]
    total_reply_count: i64,
}

#[derive(Debug, Deserialize)]
struct ThreadReplies {
    #[serde(default)]
    comments: Vec<Comment>,
}

#[derive(Debug, Deserialize)]
struct Comment {
    id: String,
    snippet: CommentSnippet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnippet {
    #[serde(default)]
    author_display_name: String,
    author_channel_url: Option<String>,
    author_channel_id: Option<ChannelRef>,
    video_id: Option<String>,
    #[serde(default)]
    text_display: String,
    #[serde(default)]
    text_original: String,
    parent_id: Option<String>,
    #[serde(default)]
    like_count: i64,
    published_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct ChannelRef {
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchList {
    next_page_token: Option<String>,
    #[serde(default)]
    items: Vec<SearchResult>,
}

#[derive(Debug, Deserialize)]
struct SearchResult {
    id: SearchId,
    snippet: VideoSnippet,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchId {
    video_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VideoSnippet {
    published_at: DateTime<Utc>,
    #[serde(default)]
    channel_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    channel_title: String,
}

#[derive(Debug, Deserialize)]
struct Channels {
    #[serde(default)]
    items: Vec<ChannelItem>,
}

#[derive(Debug, Deserialize)]
struct ChannelItem {
    id: String,
    snippet: Option<ChannelSnippet>,
    statistics: Option<ChannelStatistics>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelSnippet {
    #[serde(default)]
    title: String,
    custom_url: Option<String>,
}

/// Google sends 64-bit counts as strings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelStatistics {
    subscriber_count: Option<String>,
    #[serde(default)]
    hidden_subscriber_count: bool,
}

/// A channel as a poll knows it.
#[derive(Clone, Debug, Default)]
struct Known {
    handle: Option<String>,
    title: Option<String>,
    subscribers: Option<i64>,
}

/// Calls the API with the connection, its units counted first. A `quotaExceeded`
/// answer spends the rest of the day and waits for it; a short-term rate limit waits.
async fn call(credential: &Credential<'_>, url: &url::Url, units: i32) -> Result<(Fetched, Quota), CollectError> {
    let spent = youtube::spend(credential, units, Use::Read).await?;
    let fetched = credential.request(url.as_str(), None).await?;
    if youtube::quota_exceeded(fetched.status, &fetched.body) {
        youtube::exhaust(credential, &spent).await;
        let wait = (youtube::day_end(Utc::now()) - Utc::now()).to_std().ok();
        return Err(CollectError::RateLimited { retry_after: wait });
    }
    if let Some(wait) = youtube::rate_limited(fetched.status, &fetched.body) {
        return Err(CollectError::RateLimited { retry_after: Some(wait) });
    }
    if fetched.status == 403 || fetched.status == 404 {
        let reason = youtube::error_reason(&fetched.body);
        tracing::info!(status = fetched.status, reason, "YouTube refused a call");
    }
    Ok((check(fetched)?, spent.quota))
}

fn api_url(endpoint: &str, path: &str, query: &[(&str, &str)]) -> Result<url::Url, CollectError> {
    let mut url = url::Url::parse(&format!("{}/{path}", endpoint.trim_end_matches('/')))
        .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().extend_pairs(query);
    Ok(url)
}

/// Looks up the channels of `ids` not known yet (handles and subscriber counts), 50 a
/// call. A failed lookup leaves them unknown; their comments are stored either way.
async fn look_up(
    credential: &Credential<'_>,
    endpoint: &str,
    ids: BTreeSet<String>,
    known: &mut HashMap<String, Known>,
    quota: &mut Option<Quota>,
) -> Result<(), CollectError> {
    let wanted: Vec<String> = ids.into_iter().filter(|id| !id.is_empty() && !known.contains_key(id)).collect();
    let room = MAX_LOOKUPS.saturating_sub(known.len());
    for chunk in wanted[..wanted.len().min(room)].chunks(50) {
        let url = api_url(endpoint, "channels", &[("part", "snippet,statistics"), ("id", &chunk.join(","))])?;
        let fetched = match call(credential, &url, LIST_COST).await {
            Ok((fetched, spent)) => {
                *quota = Some(spent);
                fetched
            }
            Err(e @ (CollectError::RateLimited { .. } | CollectError::Credential(_))) => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, "YouTube channels lookup failed: counts left unknown");
                return Ok(());
            }
        };
        for item in json::<Channels>(&fetched.body, "YouTube channels")?.items {
            let snippet = item.snippet;
            let subscribers = item
                .statistics
                .filter(|s| !s.hidden_subscriber_count)
                .and_then(|s| s.subscriber_count?.parse::<i64>().ok())
                .map(count);
            known.insert(
                item.id,
                Known {
                    handle: snippet.as_ref().and_then(|s| s.custom_url.clone()).map(|h| normalise_handle(&h)),
                    title: snippet.map(|s| s.title).filter(|t| !t.is_empty()),
                    subscribers,
                },
            );
        }
    }
    Ok(())
}

fn author(channel_id: &str, name: &str, profile_url: Option<String>, known: &HashMap<String, Known>) -> NewAuthor {
    let found = known.get(channel_id).cloned().unwrap_or_default();
    let handle = found.handle.clone().unwrap_or_else(|| {
        let name = normalise_handle(name);
        if name.is_empty() { channel_id.to_lowercase() } else { name }
    });
    NewAuthor {
        profile_url: profile_url
            .or_else(|| (!channel_id.is_empty()).then(|| format!("https://www.youtube.com/channel/{channel_id}"))),
        handle,
        display_name: found.title.or_else(|| Some(name.trim_start_matches('@').to_owned())).filter(|n| !n.is_empty()),
        followers: found.subscribers,
        following: None,
        verified: false,
        account_created_at: None,
        // Google describes every channel: the same answer for every tenant.
        authoritative: true,
    }
}

fn comment_mention(
    comment: Comment,
    video: Option<&str>,
    replies: i64,
    parent_author: Option<String>,
    direct: bool,
    known: &HashMap<String, Known>,
) -> NewMention {
    let s = comment.snippet;
    let channel = s.author_channel_id.map(|c| c.value).unwrap_or_default();
    let video = s.video_id.as_deref().or(video).unwrap_or_default().to_owned();
    let text = if s.text_original.is_empty() {
        html_escape::decode_html_entities(&s.text_display).into_owned()
    } else {
        s.text_original
    };
    NewMention {
        url: (!video.is_empty()).then(|| format!("https://www.youtube.com/watch?v={video}&lc={}", comment.id)),
        external_id: comment.id.chars().take(255).collect(),
        network: "youtube".into(),
        text: clip(text),
        lang: None,
        published_at: s.published_at,
        author: author(&channel, &s.author_display_name, s.author_channel_url, known),
        likes: count(s.like_count),
        shares: 0,
        replies: count(replies),
        views: 0,
        in_reply_to: s.parent_id,
        in_reply_to_author: parent_author,
        direct,
        rating: None,
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Where a poll starts: after `since` (the newest item stored), and, when the last
/// poll stopped before reaching it (its page budget or a failure), from `resume`, the
/// page it had not read, with `newest` the newest item it had seen. The cursor only
/// moves past what was read.
#[derive(Clone, Debug, Default)]
struct Position {
    since: Option<DateTime<Utc>>,
    resume: Option<String>,
    newest: Option<DateTime<Utc>>,
}

fn instant(value: &serde_json::Value) -> Option<DateTime<Utc>> {
    value.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

impl Position {
    fn of(source: &source::Model) -> Self {
        let Some(cursor) = &source.cursor else { return Position::default() };
        Position {
            since: instant(&cursor["since"]),
            resume: cursor["resume"].as_str().map(str::to_owned),
            newest: instant(&cursor["newest"]),
        }
    }

    /// The cursor after a poll that saw up to `newest` and stopped before `next` (a
    /// page token) or reached what it had seen.
    fn after(&self, newest: Option<DateTime<Utc>>, next: Option<String>) -> Option<serde_json::Value> {
        let newest = newest.max(self.newest);
        match next {
            // Not caught up: keep `since`, and where to go on.
            Some(next) if self.since.is_some() => Some(json!({
                "since": self.since.map(stamp), "resume": next, "newest": newest.map(stamp)
            })),
            _ => newest.max(self.since).map(|n| json!({ "since": stamp(n) })),
        }
    }
}

/// Page `index` of a poll, its units counted and its quota kept on the poll. A failure
/// after the first page is the poll's `incomplete` (what earlier pages brought is kept)
/// and gives `None`; on the first page it fails the poll.
async fn page_of<T: serde::de::DeserializeOwned>(
    credential: &Credential<'_>,
    url: &url::Url,
    units: i32,
    what: &str,
    index: usize,
    poll: &mut Poll,
) -> Result<Option<T>, CollectError> {
    let page = match call(credential, url, units).await {
        Ok((fetched, quota)) => {
            poll.quota = Some(quota);
            json::<T>(&fetched.body, what)
        }
        Err(e) => Err(e),
    };
    match page {
        Ok(page) => Ok(Some(page)),
        Err(e) if index > 0 => {
            poll.incomplete = Some(e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Every reply of a thread (`comments.list?parentId`, 100 a page, a unit a page).
async fn all_replies(credential: &Credential<'_>, endpoint: &str, top: &str) -> Result<Vec<Comment>, CollectError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Comments {
        #[serde(default)]
        items: Vec<Comment>,
        next_page_token: Option<String>,
    }
    let mut replies = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut query =
            vec![("part", "snippet"), ("parentId", top), ("maxResults", "100"), ("textFormat", "plainText")];
        if let Some(token) = &token {
            query.push(("pageToken", token));
        }
        let (fetched, _) = call(credential, &api_url(endpoint, "comments", &query)?, LIST_COST).await?;
        let page = json::<Comments>(&fetched.body, "YouTube comments")?;
        replies.extend(page.items);
        match page.next_page_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    Ok(replies)
}

/// The comment threads on a channel's videos since the cursor.
async fn poll_channel(
    credential: &Credential<'_>,
    endpoint: &str,
    source: &source::Model,
    at: Position,
) -> Result<Poll, CollectError> {
    let (own_channel, _) = credential.account().await;
    let direct = own_channel.as_deref() == Some(source.target.as_str());
    let since = at.since;
    let mut poll = Poll::default();
    let mut known = HashMap::new();
    let mut newest = None;
    let mut page_token = at.resume.clone();
    let mut full_threads = 0;
    let mut next = None;
    for index in 0..MAX_PAGES {
        let mut query = vec![
            ("part", "snippet,replies"),
            ("allThreadsRelatedToChannelId", source.target.as_str()),
            ("order", "time"),
            ("maxResults", "100"),
            ("textFormat", "plainText"),
        ];
        if let Some(token) = &page_token {
            query.push(("pageToken", token));
        }
        let url = api_url(endpoint, "commentThreads", &query)?;
        let Some(page) =
            page_of::<CommentThreads>(credential, &url, LIST_COST, "YouTube commentThreads", index, &mut poll).await?
        else {
            // Read again from this page next time.
            next = page_token.clone();
            break;
        };
        let read = page.items.len();
        let mut reached_seen = false;
        let mut comments = Vec::new();
        let mut halted = None;
        for thread in page.items {
            let video = thread.snippet.video_id.clone();
            let top = thread.snippet.top_level_comment;
            if since.is_some_and(|s| top.snippet.published_at <= s) {
                reached_seen = true;
            }
            let top_author = normalise_handle(&top.snippet.author_display_name);
            let top_channel = top.snippet.author_channel_id.as_ref().map(|c| c.value.clone()).unwrap_or_default();
            let mut replies = thread.replies.map(|r| r.comments).unwrap_or_default();
            // The thread carries some of its replies only: new ones may be elsewhere, if
            // it shows any activity since the last poll (the first poll reads no history).
            let partial = (replies.len() as i64) < thread.snippet.total_reply_count;
            let active = since
                .is_some_and(|s| top.snippet.published_at > s || replies.iter().any(|r| r.snippet.published_at > s));
            if partial && active && full_threads < MAX_FULL_THREADS {
                full_threads += 1;
                match all_replies(credential, endpoint, &top.id).await {
                    Ok(all) => replies = all,
                    Err(e @ (CollectError::RateLimited { .. } | CollectError::Credential(_))) => {
                        halted = Some(e);
                        break;
                    }
                    Err(e) => tracing::warn!(error = %e, "YouTube replies of a thread not read in full"),
                }
            }
            for reply in replies {
                comments.push((reply, video.clone(), 0, Some((top_channel.clone(), top_author.clone()))));
            }
            comments.push((top, video, thread.snippet.total_reply_count, None));
        }
        comments.retain(|(c, ..)| since.is_none_or(|s| c.snippet.published_at > s));
        let mut ids: BTreeSet<String> = comments
            .iter()
            .filter_map(|(c, ..)| c.snippet.author_channel_id.as_ref().map(|a| a.value.clone()))
            .collect();
        ids.extend(comments.iter().filter_map(|(.., parent)| parent.as_ref().map(|p| p.0.clone())));
        if halted.is_none()
            && let Err(e) = look_up(credential, endpoint, ids, &mut known, &mut poll.quota).await
        {
            halted = Some(e);
        }
        if let Some(e) = halted {
            // The quota or the credential stopped this page: what earlier pages brought
            // is kept, and this page is read again next time.
            if index == 0 {
                return Err(e);
            }
            poll.incomplete = Some(e);
            next = page_token.clone();
            break;
        }
        for (comment, video, replies, parent) in comments {
            newest = newest.max(Some(comment.snippet.published_at));
            let parent_author =
                parent.map(|(channel, name)| known.get(&channel).and_then(|k| k.handle.clone()).unwrap_or(name));
            // A reply answers the thread's author, not the channel.
            let addressed = direct && parent_author.is_none();
            poll.mentions.push(comment_mention(comment, video.as_deref(), replies, parent_author, addressed, &known));
        }
        page_token = page.next_page_token;
        // The first poll starts from now: one page, no backfill.
        if read == 0 || page_token.is_none() || since.is_none() || reached_seen {
            break;
        }
        if index + 1 == MAX_PAGES {
            next = page_token.clone();
        }
    }
    poll.cursor = at.after(newest, next);
    Ok(poll)
}

/// The videos matching a query published since the cursor (less an overlap).
async fn poll_search(
    credential: &Credential<'_>,
    endpoint: &str,
    source: &source::Model,
    at: Position,
) -> Result<Poll, CollectError> {
    let mut poll = Poll::default();
    let mut known = HashMap::new();
    let mut newest = None;
    let mut page_token = at.resume.clone();
    let mut next = None;
    let after = at.since.map(|s| stamp(s - SEARCH_OVERLAP));
    for index in 0..SEARCH_PAGES {
        let mut query = vec![
            ("part", "snippet"),
            ("type", "video"),
            ("order", "date"),
            ("maxResults", "50"),
            ("q", source.target.as_str()),
        ];
        if let Some(after) = &after {
            query.push(("publishedAfter", after));
        }
        if let Some(token) = &page_token {
            query.push(("pageToken", token));
        }
        let url = api_url(endpoint, "search", &query)?;
        let Some(page) =
            page_of::<SearchList>(credential, &url, SEARCH_COST, "YouTube search", index, &mut poll).await?
        else {
            next = page_token.clone();
            break;
        };
        let read = page.items.len();
        let videos: Vec<(String, VideoSnippet)> =
            page.items.into_iter().filter_map(|r| Some((r.id.video_id?, r.snippet))).collect();
        let ids = videos.iter().map(|(_, v)| v.channel_id.clone()).collect();
        if let Err(e) = look_up(credential, endpoint, ids, &mut known, &mut poll.quota).await {
            if index == 0 {
                return Err(e);
            }
            poll.incomplete = Some(e);
            next = page_token.clone();
            break;
        }
        // Into the overlap: what follows was seen (the overlap only catches late ones).
        let reached_seen = at.since.is_some_and(|s| videos.iter().any(|(_, v)| v.published_at <= s));
        for (id, video) in videos {
            newest = newest.max(Some(video.published_at));
            let title = html_escape::decode_html_entities(&video.title).into_owned();
            let description = html_escape::decode_html_entities(&video.description).into_owned();
            let text = if description.is_empty() { title } else { format!("{title}\n\n{description}") };
            poll.mentions.push(NewMention {
                url: Some(format!("https://www.youtube.com/watch?v={id}")),
                external_id: id.chars().take(255).collect(),
                network: "youtube".into(),
                text: clip(text),
                lang: None,
                published_at: video.published_at,
                author: author(&video.channel_id, &video.channel_title, None, &known),
                likes: 0,
                shares: 0,
                replies: 0,
                views: 0,
                in_reply_to: None,
                in_reply_to_author: None,
                direct: false,
                rating: None,
            });
        }
        page_token = page.next_page_token;
        // The first poll starts from now: one page, no backfill.
        if read == 0 || page_token.is_none() || at.since.is_none() || reached_seen {
            break;
        }
        if index + 1 == SEARCH_PAGES {
            next = page_token.clone();
        }
    }
    poll.cursor = at.after(newest, next);
    Ok(poll)
}

#[async_trait::async_trait]
impl Collector for YoutubeCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "YouTube")?;
        let endpoint = credential.endpoint().await;
        let at = Position::of(source);
        let run = |at: Position| async {
            if source.kind == "account" {
                poll_channel(credential, &endpoint, source, at).await
            } else {
                poll_search(credential, &endpoint, source, at).await
            }
        };
        match run(at.clone()).await {
            // Page tokens do not last: start again from the top.
            Err(CollectError::Status(400)) if at.resume.is_some() => run(Position { resume: None, ..at }).await,
            polled => polled,
        }
    }
}
