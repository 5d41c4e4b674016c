//! Facebook Pages and Instagram professional accounts (Graph API), through the Page
//! connection (see [`crate::connections::meta`]):
//!
//! - a Facebook **account** source is the connection's Page: the comments (and
//!   replies) on its latest posts, visitors' posts on it, and public posts that tag it;
//! - an Instagram **account** source is the connection's account: the comments (and
//!   replies) on its latest media, and the media it is tagged in;
//! - an Instagram **search** source is a hashtag: its recent media (the last day), the
//!   hashtag's id looked up once and kept.
//!
//! Meta's webhooks (`/webhooks/meta`) bring comments as they are made; polling reads
//! the latest posts again and catches what a missed delivery lost. A poll keeps what
//! is newer than the newest item stored, less an overlap (stored once); the first poll
//! reads what is there without going back further. Graph reports its rate limits as
//! errors (code 4, 17, 32, 613, 80001…) with the wait in `X-Business-Use-Case-Usage`,
//! and the usage percentages become the source's quota.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, HashSet};

use super::{CollectError, Collector, MAX_PAGES, Poll, clip, count};
use crate::connections::Credential;
use crate::connections::meta::{self as api, Paging, parse_time};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention, normalise_handle};
use crate::platform::outbound::Http;

pub struct FacebookCollector;
pub struct InstagramCollector;

/// How far before the newest item stored a poll still reads (comments arrive out of
/// order across posts).
const OVERLAP: chrono::Duration = chrono::Duration::minutes(30);
/// Latest posts (or media) whose comments a poll reads.
const POSTS: &str = "25";

/// Where a reading stands: after `since`, the newest item stored; a hashtag source
/// keeps its hashtag's id.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mark {
    since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hashtag_id: Option<String>,
}

impl Mark {
    /// Whether an item made at `at` is new to the reading.
    fn is_new(&self, at: Option<DateTime<Utc>>) -> bool {
        match (self.since, at) {
            (Some(since), Some(at)) => at >= since - OVERLAP,
            _ => true,
        }
    }
}

/// A poll's progress: the newest item kept, and whether a page failed, in which case
/// the mark stays where it was, so that the next poll reads that stretch again (stored
/// once). Threads longer than the page budget do not hold the mark (a viral post would
/// hold it for good): their older comments are logged as skipped, and Meta's webhooks
/// bring each comment as it is made.
struct Reading {
    mark: Mark,
    newest: Option<DateTime<Utc>>,
    cut_short: bool,
    /// Further pages of threads a poll may still read.
    budget: usize,
}

impl Reading {
    fn new(mark: Mark) -> Self {
        Reading { newest: mark.since, mark, cut_short: false, budget: MAX_PAGES * MAX_PAGES }
    }

    /// Whether an item made at `at` is new; if so, it counts towards the newest.
    fn keep(&mut self, at: Option<DateTime<Utc>>) -> bool {
        let new = self.mark.is_new(at);
        if new {
            self.newest = self.newest.max(at.map(|at| at.min(Utc::now())));
        }
        new
    }

    /// Whether a thread whose page was all new has more to read: only once a first
    /// poll has set the mark (no backfill).
    fn follows(&self, all_new: bool) -> bool {
        all_new && self.mark.since.is_some()
    }

    /// The mark the next poll starts from.
    fn cursor(&self) -> Mark {
        let since = if self.cut_short { self.mark.since } else { self.newest };
        Mark { since, hashtag_id: self.mark.hashtag_id.clone() }
    }
}

/// GETs a Graph page with `credential`, keeping its usage as the poll's quota; Graph's
/// rate-limit errors wait as long as it says, its other refusals are named.
pub(crate) async fn graph<T: serde::de::DeserializeOwned>(
    credential: &Credential<'_>,
    url: &str,
    what: &str,
    poll: &mut Poll,
) -> Result<T, CollectError> {
    let fetched = credential.request(url, None).await?;
    poll.quota = crate::platform::outbound::quota(&fetched.headers).or(poll.quota.take());
    if fetched.status == 200 {
        return super::json(&fetched.body, what);
    }
    let error = api::error_of(&fetched.body);
    if fetched.status == 429 || error.as_ref().is_some_and(|e| e.rate_limited()) {
        return Err(CollectError::RateLimited { retry_after: Some(api::wait_of(&fetched.headers)) });
    }
    match error {
        Some(error) if fetched.status < 500 && !matches!(error.code, 1 | 2) => {
            Err(CollectError::Refused(error.describe()))
        }
        _ => Err(CollectError::Status(fetched.status)),
    }
}

/// A Graph URL: `{endpoint}/{path}` with `query`.
fn url_of(endpoint: &str, path: &str, query: &[(&str, &str)]) -> Result<String, CollectError> {
    let mut url = url::Url::parse(&format!("{}/{path}", endpoint.trim_end_matches('/')))
        .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().extend_pairs(query);
    Ok(url.into())
}

/// The connection's own account: a Page or Instagram account source reads its own.
async fn own_target(credential: &Credential<'_>, source: &source::Model, what: &str) -> Result<(), CollectError> {
    let (own, _) = credential.account().await;
    if own.as_deref() != Some(source.target.as_str()) || !api::is_id(&source.target) {
        return Err(CollectError::Refused(format!("this source reads its connection's own {what}")));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(crate) struct List<T> {
    #[serde(default = "Vec::new")]
    data: Vec<T>,
    paging: Option<Paging>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List { data: Vec::new(), paging: None }
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Person {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Deserialize)]
struct Post {
    id: String,
    #[serde(default)]
    message: String,
    created_time: Option<String>,
    permalink_url: Option<String>,
    from: Option<Person>,
    #[serde(default)]
    comments: List<Comment>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Comment {
    pub id: String,
    #[serde(default)]
    pub message: String,
    pub created_time: Option<String>,
    pub permalink_url: Option<String>,
    pub from: Option<Person>,
    pub parent: Option<Parent>,
    #[serde(default)]
    pub like_count: i64,
    #[serde(default)]
    pub comment_count: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Parent {
    pub id: String,
    pub from: Option<Person>,
}

const COMMENT_FIELDS: &str =
    "id,message,created_time,permalink_url,from{id,name},parent{id,from{id}},like_count,comment_count";

/// A Facebook author: the person or Page by their id (app-scoped for people, who have
/// no public handle); one Graph does not name (without the permission) is its own
/// author, so that strangers are not merged into one.
fn facebook_author(from: Option<&Person>, item: &str) -> NewAuthor {
    let (handle, display_name) = match from.filter(|p| api::is_id(&p.id)) {
        Some(person) => (person.id.clone(), Some(person.name.clone()).filter(|n| !n.is_empty())),
        None => (format!("facebook:anonymous:{}", &crate::sha256_hex(item)[..16]), None),
    };
    NewAuthor {
        handle,
        display_name,
        profile_url: None,
        followers: None,
        following: None,
        verified: false,
        account_created_at: None,
        authoritative: true,
    }
}

/// A Facebook comment on post `post` as a mention. `page` is the source's Page: a
/// comment on its post, or answering one of its comments, is addressed to the brand;
/// its own comments are not mentions.
pub(crate) fn comment_mention(comment: Comment, post: &str, page: &str) -> Option<NewMention> {
    let from = comment.from.as_ref();
    if comment.message.trim().is_empty() || !api::is_id(&comment.id) || from.is_some_and(|f| f.id == page) {
        return None;
    }
    let parent = comment.parent.as_ref().filter(|p| api::is_id(&p.id) && p.id != post);
    let parent_author = parent.and_then(|p| p.from.as_ref()).map(|f| f.id.as_str());
    Some(NewMention {
        url: comment.permalink_url.clone().or_else(|| Some(format!("https://www.facebook.com/{}", comment.id))),
        author: facebook_author(from, &comment.id),
        network: "facebook".into(),
        text: clip(comment.message.clone()),
        lang: None,
        published_at: comment.created_time.as_deref().and_then(parse_time).unwrap_or_else(Utc::now).min(Utc::now()),
        likes: count(comment.like_count),
        shares: 0,
        replies: count(comment.comment_count),
        views: 0,
        in_reply_to: Some(parent.map_or(post, |p| p.id.as_str()).to_owned()),
        in_reply_to_author: parent_author.map(normalise_handle),
        direct: parent.is_none() || parent_author == Some(page),
        external_id: comment.id,
        rating: None,
    })
}

/// A post by someone else (a visitor's on the Page, or one tagging it) as a mention.
fn post_mention(post: Post, page: &str) -> Option<NewMention> {
    if post.message.trim().is_empty() || !api::is_id(&post.id) || post.from.as_ref().is_some_and(|f| f.id == page) {
        return None;
    }
    Some(NewMention {
        url: post.permalink_url.clone().or_else(|| Some(format!("https://www.facebook.com/{}", post.id))),
        author: facebook_author(post.from.as_ref(), &post.id),
        external_id: post.id,
        network: "facebook".into(),
        text: clip(post.message),
        lang: None,
        published_at: post.created_time.as_deref().and_then(parse_time).unwrap_or_else(Utc::now).min(Utc::now()),
        likes: 0,
        shares: 0,
        replies: 0,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        // Written on the brand's Page, or tagging it.
        direct: true,
        rating: None,
    })
}

/// Reads a thread's further pages from `next` while they bring only new comments, as
/// far as the reading's budget goes (older comments past it are skipped); a page that
/// fails makes the reading cut short.
async fn rest_of_thread<T: serde::de::DeserializeOwned + Timed>(
    credential: &Credential<'_>,
    endpoint: &str,
    mut next: String,
    reading: &mut Reading,
    poll: &mut Poll,
    mut mention: impl FnMut(T) -> Vec<NewMention>,
) {
    loop {
        if reading.budget == 0 {
            tracing::warn!("a thread has more new comments than a poll reads: its older ones are skipped");
            return;
        }
        reading.budget -= 1;
        let page: List<T> = match graph(credential, &next, "comments", poll).await {
            Ok(list) => list,
            Err(e) => {
                poll.incomplete = Some(e);
                reading.cut_short = true;
                return;
            }
        };
        let mut all_new = !page.data.is_empty();
        for item in page.data {
            if reading.keep(item.at()) {
                poll.mentions.extend(mention(item));
            } else {
                all_new = false;
            }
        }
        match api::next_page(page.paging, endpoint) {
            Some(following) if all_new && following != next => next = following,
            _ => return,
        }
    }
}

/// An item with the time it was made.
trait Timed {
    fn at(&self) -> Option<DateTime<Utc>>;
}

impl Timed for Comment {
    fn at(&self) -> Option<DateTime<Utc>> {
        self.created_time.as_deref().and_then(parse_time)
    }
}

impl Timed for IgComment {
    /// A comment's thread is as recent as its latest reply.
    fn at(&self) -> Option<DateTime<Utc>> {
        let own = self.timestamp.as_deref().and_then(parse_time);
        self.replies
            .data
            .iter()
            .filter_map(|r| r.timestamp.as_deref().and_then(parse_time))
            .fold(own, |a, b| a.max(Some(b)))
    }
}

#[async_trait::async_trait]
impl Collector for FacebookCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "Facebook")?;
        own_target(credential, source, "Page").await?;
        let mut reading = Reading::new(super::mark_of(source.cursor.as_ref()));
        let endpoint = credential.endpoint().await;
        let page = source.target.as_str();
        let mut poll = Poll::default();
        let comments = format!("comments.order(reverse_chronological).filter(stream).limit(50){{{COMMENT_FIELDS}}}");
        let fields = format!("id,message,created_time,permalink_url,from{{id,name}},{comments}");
        let url = url_of(&endpoint, &format!("{page}/feed"), &[("fields", &fields), ("limit", POSTS)])?;
        let feed: List<Post> = graph(credential, &url, "the Page's posts", &mut poll).await?;
        // Further pages of comments, for posts whose first page was all new.
        let mut more = Vec::new();
        for mut post in feed.data {
            let comments = std::mem::take(&mut post.comments);
            let mut all_new = !comments.data.is_empty();
            for comment in comments.data {
                if reading.keep(comment.at()) {
                    poll.mentions.extend(comment_mention(comment, &post.id, page));
                } else {
                    all_new = false;
                }
            }
            if reading.follows(all_new)
                && let Some(next) = api::next_page(comments.paging, &endpoint)
            {
                more.push((post.id.clone(), next));
            }
            if reading.keep(post.created_time.as_deref().and_then(parse_time)) {
                poll.mentions.extend(post_mention(post, page));
            }
        }
        for (post, next) in more {
            rest_of_thread(credential, &endpoint, next, &mut reading, &mut poll, |c: Comment| {
                comment_mention(c, &post, page).into_iter().collect()
            })
            .await;
        }
        let fields = "id,message,created_time,permalink_url,from{id,name}";
        let url = url_of(&endpoint, &format!("{page}/tagged"), &[("fields", fields), ("limit", "50")])?;
        match graph::<List<Post>>(credential, &url, "posts tagging the Page", &mut poll).await {
            Ok(tagged) => {
                for post in tagged.data {
                    if reading.keep(post.created_time.as_deref().and_then(parse_time)) {
                        poll.mentions.extend(post_mention(post, page));
                    }
                }
            }
            // Without Page Public Content Access, Graph refuses tagged posts: comments
            // still arrive.
            Err(CollectError::Refused(why)) => {
                tracing::info!(source_id = %source.id, why, "posts tagging the Page are not readable");
            }
            Err(e) => {
                poll.incomplete = Some(e);
                reading.cut_short = true;
            }
        }
        poll.cursor = Some(json!(reading.cursor()));
        Ok(poll)
    }
}

#[derive(Debug, Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    caption: String,
    timestamp: Option<String>,
    permalink: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    like_count: i64,
    #[serde(default)]
    comments_count: i64,
    #[serde(default)]
    comments: List<IgComment>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct IgComment {
    pub id: String,
    #[serde(default)]
    pub text: String,
    pub timestamp: Option<String>,
    #[serde(default)]
    pub username: String,
    pub from: Option<IgUser>,
    pub parent_id: Option<String>,
    #[serde(default)]
    pub like_count: i64,
    #[serde(default)]
    pub replies: List<IgComment>,
    /// The media it is on (asked for when a webhook named the comment alone).
    pub media: Option<MediaRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MediaRef {
    pub id: String,
    pub permalink: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct IgUser {
    pub id: String,
    #[serde(default)]
    pub username: String,
}

fn instagram_author(username: &str, item: &str) -> NewAuthor {
    let valid = !username.is_empty()
        && username.len() <= 30
        && username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    let (handle, profile_url) = if valid {
        (normalise_handle(username), Some(format!("https://www.instagram.com/{username}/")))
    } else {
        // Hashtag media come without their author.
        (format!("instagram:anonymous:{}", &crate::sha256_hex(item)[..16]), None)
    };
    NewAuthor {
        handle,
        display_name: None,
        profile_url,
        followers: None,
        following: None,
        verified: false,
        account_created_at: None,
        authoritative: true,
    }
}

/// The account a source reads: its id and username (its own comments are not
/// mentions, and answers to them are addressed to the brand).
#[derive(Clone, Copy)]
pub(crate) struct Own<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

impl IgComment {
    fn username(&self) -> &str {
        match self.from.as_ref().map(|f| f.username.as_str()) {
            Some(name) if !name.is_empty() => name,
            _ => &self.username,
        }
    }

    fn is_by(&self, own: Own<'_>) -> bool {
        self.from.as_ref().is_some_and(|f| f.id == own.id)
            || (!own.name.is_empty() && normalise_handle(self.username()) == own.name)
    }
}

/// An Instagram comment on the account's media `media` as a mention; `parent` is the
/// comment it answers, when known. A comment on the media, or an answer to the
/// account's own comment, is addressed to the brand.
pub(crate) fn instagram_comment(
    comment: &IgComment,
    media: &str,
    link: Option<&str>,
    own: Own<'_>,
    parent: Option<&IgComment>,
) -> Option<NewMention> {
    if comment.text.trim().is_empty() || !api::is_id(&comment.id) || comment.is_by(own) {
        return None;
    }
    let parent_id = comment.parent_id.as_deref().or(parent.map(|p| p.id.as_str())).filter(|p| api::is_id(p));
    let username = comment.username();
    Some(NewMention {
        url: link.map(str::to_owned),
        external_id: comment.id.clone(),
        network: "instagram".into(),
        text: clip(comment.text.clone()),
        lang: None,
        published_at: comment.timestamp.as_deref().and_then(parse_time).unwrap_or_else(Utc::now).min(Utc::now()),
        author: instagram_author(username, &comment.id),
        likes: count(comment.like_count),
        shares: 0,
        replies: count(comment.replies.data.len() as i64),
        views: 0,
        in_reply_to: Some(parent_id.unwrap_or(media).to_owned()),
        in_reply_to_author: parent.map(|p| normalise_handle(p.username())).filter(|h| !h.is_empty()),
        direct: parent_id.is_none() || parent.is_some_and(|p| p.is_by(own)),
        rating: None,
    })
}

/// A comment and its replies, each new one as a mention.
fn thread_mentions(
    comment: IgComment,
    media: &str,
    link: Option<&str>,
    own: Own<'_>,
    reading: &mut Reading,
) -> Vec<NewMention> {
    let mut found = Vec::new();
    if reading.keep(comment.timestamp.as_deref().and_then(parse_time)) {
        found.extend(instagram_comment(&comment, media, link, own, None));
    }
    for reply in &comment.replies.data {
        if reading.keep(reply.timestamp.as_deref().and_then(parse_time)) {
            found.extend(instagram_comment(reply, media, link, own, Some(&comment)));
        }
    }
    found
}

fn media_mention(media: Media, direct: bool) -> Option<NewMention> {
    if media.caption.trim().is_empty() || !api::is_id(&media.id) {
        return None;
    }
    Some(NewMention {
        url: media.permalink.clone(),
        author: instagram_author(&media.username, &media.id),
        external_id: media.id,
        network: "instagram".into(),
        text: clip(media.caption),
        lang: None,
        published_at: media.timestamp.as_deref().and_then(parse_time).unwrap_or_else(Utc::now).min(Utc::now()),
        likes: count(media.like_count),
        shares: 0,
        replies: count(media.comments_count),
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct,
        rating: None,
    })
}

const IG_COMMENT_FIELDS: &str = "id,text,timestamp,username,from{id,username},parent_id,like_count";

#[async_trait::async_trait]
impl Collector for InstagramCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "Instagram")?;
        match source.kind.as_str() {
            "search" | "hashtag" => hashtag(credential, source).await,
            _ => account(credential, source).await,
        }
    }
}

/// Comments on the account's latest media, and media it is tagged in.
async fn account(credential: &Credential<'_>, source: &source::Model) -> Result<Poll, CollectError> {
    own_target(credential, source, "Instagram account").await?;
    let (_, name) = credential.account().await;
    let name = normalise_handle(&name);
    let own = Own { id: source.target.as_str(), name: &name };
    let mut reading = Reading::new(super::mark_of(source.cursor.as_ref()));
    let endpoint = credential.endpoint().await;
    let mut poll = Poll::default();
    let fields = format!(
        "id,caption,timestamp,permalink,username,like_count,comments_count,\
         comments.limit(50){{{IG_COMMENT_FIELDS},replies{{{IG_COMMENT_FIELDS}}}}}"
    );
    let url = url_of(&endpoint, &format!("{}/media", source.target), &[("fields", &fields), ("limit", POSTS)])?;
    let media: List<Media> = graph(credential, &url, "the account's media", &mut poll).await?;
    let mut more = Vec::new();
    for mut item in media.data {
        let comments = std::mem::take(&mut item.comments);
        let link = item.permalink.as_deref();
        let mut all_new = !comments.data.is_empty();
        for comment in comments.data {
            all_new &= reading.mark.is_new(comment.at());
            poll.mentions.extend(thread_mentions(comment, &item.id, link, own, &mut reading));
        }
        if reading.follows(all_new)
            && let Some(next) = api::next_page(comments.paging, &endpoint)
        {
            more.push((item.id.clone(), item.permalink.clone(), next));
        }
    }
    for (media, link, next) in more {
        // The thread's time (its latest reply) decides whether it is read; each of its
        // comments and replies is then kept on its own time.
        let mark = reading.mark.clone();
        rest_of_thread(credential, &endpoint, next, &mut reading, &mut poll, |c: IgComment| {
            thread_mentions(c, &media, link.as_deref(), own, &mut Reading::new(mark.clone()))
        })
        .await;
    }
    let fields = "id,caption,timestamp,permalink,username,like_count,comments_count";
    let url = url_of(&endpoint, &format!("{}/tags", source.target), &[("fields", fields), ("limit", "50")])?;
    match graph::<List<Media>>(credential, &url, "media tagging the account", &mut poll).await {
        Ok(tagged) => {
            for item in tagged.data {
                if reading.keep(item.timestamp.as_deref().and_then(parse_time))
                    && normalise_handle(&item.username) != name
                {
                    poll.mentions.extend(media_mention(item, true));
                }
            }
        }
        Err(e) => {
            poll.incomplete = Some(e);
            reading.cut_short = true;
        }
    }
    poll.cursor = Some(json!(reading.cursor()));
    Ok(poll)
}

/// A hashtag's recent media (Graph gives the last day's, 50 a page, without authors).
async fn hashtag(credential: &Credential<'_>, source: &source::Model) -> Result<Poll, CollectError> {
    #[derive(Deserialize)]
    struct Found {
        id: String,
    }
    let (own, _) = credential.account().await;
    let user = own.filter(|id| api::is_id(id)).ok_or_else(|| CollectError::Refused("no Instagram account".into()))?;
    let mut mark: Mark = super::mark_of(source.cursor.as_ref());
    let endpoint = credential.endpoint().await;
    let mut poll = Poll::default();
    let id = match mark.hashtag_id.clone().filter(|id| api::is_id(id)) {
        Some(id) => id,
        None => {
            let url = url_of(&endpoint, "ig_hashtag_search", &[("user_id", &user), ("q", &source.target)])?;
            let found: List<Found> = graph(credential, &url, "the hashtag", &mut poll).await?;
            let id = found.data.into_iter().map(|f| f.id).find(|id| api::is_id(id));
            id.ok_or_else(|| CollectError::Refused(format!("Instagram knows no hashtag #{}", source.target)))?
        }
    };
    mark.hashtag_id = Some(id.clone());
    let mut reading = Reading::new(mark);
    let fields = "id,caption,timestamp,permalink,like_count,comments_count";
    let mut url =
        url_of(&endpoint, &format!("{id}/recent_media"), &[("user_id", &user), ("fields", fields), ("limit", "50")])?;
    let mut seen = HashSet::new();
    for _ in 0..MAX_PAGES {
        let page: List<Media> = match graph(credential, &url, "the hashtag's media", &mut poll).await {
            Ok(page) => page,
            // The hashtag's id is kept whatever happens: looking it up again would spend
            // another of the 30 hashtags a week.
            Err(e) => {
                poll.incomplete = Some(e);
                reading.cut_short = true;
                break;
            }
        };
        let mut fresh = false;
        for item in page.data {
            let at = item.timestamp.as_deref().and_then(parse_time);
            if !seen.insert(item.id.clone()) || !reading.keep(at) {
                continue;
            }
            fresh = true;
            poll.mentions.extend(media_mention(item, false));
        }
        match api::next_page(page.paging, &endpoint) {
            // The first poll reads one page; later ones go on while pages bring news.
            Some(next) if reading.follows(fresh) && next != url => url = next,
            _ => break,
        }
    }
    poll.cursor = Some(json!(reading.cursor()));
    Ok(poll)
}

/// What a webhook said happened, to read from Graph: deliveries carry ids, not
/// everything a mention needs (the parent's author, the link, the counts), and reading
/// the item makes it the same mention a poll would store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notified {
    /// A comment on a post of the Page (`post`), or on the account's media.
    Comment { id: String, post: Option<String> },
    /// The account mentioned in another account's caption.
    MentionedMedia { media: String },
    /// The account mentioned in a comment elsewhere.
    MentionedComment { comment: String },
}

/// Ids asked for at once with `?ids=` (Graph takes 50).
const IDS_PER_CALL: usize = 50;

/// Graph objects by id (`GET /?ids=a,b&fields=…`); those it does not return are left
/// out. Graph refuses a whole batch for one id deleted since: the batch is then asked
/// for one id at a time, the refused ones left out.
async fn by_ids<T: serde::de::DeserializeOwned>(
    credential: &Credential<'_>,
    endpoint: &str,
    ids: &[&str],
    fields: &str,
    poll: &mut Poll,
) -> Result<HashMap<String, T>, CollectError> {
    let mut found = HashMap::new();
    let mut batches: Vec<Vec<&str>> = ids.chunks(IDS_PER_CALL).map(<[&str]>::to_vec).collect();
    while let Some(batch) = batches.pop() {
        let url = url_of(endpoint, "", &[("ids", &batch.join(",")), ("fields", fields)])?;
        let page: HashMap<String, serde_json::Value> = match graph(credential, &url, "the notified items", poll).await {
            Ok(page) => page,
            Err(CollectError::Refused(_)) if batch.len() > 1 => {
                batches.extend(batch.into_iter().map(|id| vec![id]));
                continue;
            }
            Err(CollectError::Refused(why)) => {
                tracing::info!(why, "a notified item is no longer readable; left out");
                continue;
            }
            Err(e) => return Err(e),
        };
        for (id, value) in page {
            if let Ok(item) = serde_json::from_value(value) {
                found.insert(id, item);
            }
        }
    }
    Ok(found)
}

/// Reads what webhooks notified for `source` (its connection's Page or account) and
/// gives the mentions, as a poll would have made them.
pub(crate) async fn notified(
    credential: &Credential<'_>,
    source: &source::Model,
    items: &[Notified],
) -> Result<Vec<NewMention>, CollectError> {
    let network = if source.network == "instagram" { "Instagram account" } else { "Page" };
    own_target(credential, source, network).await?;
    let endpoint = credential.endpoint().await;
    let mut poll = Poll::default();
    let comments: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Notified::Comment { id, .. } if api::is_id(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    if source.network == "facebook" {
        let page = source.target.as_str();
        let found: HashMap<String, Comment> =
            by_ids(credential, &endpoint, &comments, COMMENT_FIELDS, &mut poll).await?;
        let mut found = found;
        for item in items {
            if let Notified::Comment { id, post: Some(post) } = item
                && let Some(comment) = found.remove(id)
            {
                poll.mentions.extend(comment_mention(comment, post, page));
            }
        }
        return Ok(poll.mentions);
    }
    let (_, name) = credential.account().await;
    let name = normalise_handle(&name);
    let own = Own { id: source.target.as_str(), name: &name };
    let fields = format!("{IG_COMMENT_FIELDS},media{{id,permalink}}");
    let found: HashMap<String, IgComment> = by_ids(credential, &endpoint, &comments, &fields, &mut poll).await?;
    let parent_ids: Vec<&str> =
        found.values().filter_map(|c| c.parent_id.as_deref()).filter(|p| api::is_id(p)).collect();
    let parents: HashMap<String, IgComment> =
        by_ids(credential, &endpoint, &parent_ids, "id,username,from{id,username}", &mut poll).await?;
    for comment in found.values() {
        let Some(media) = comment.media.as_ref().filter(|m| api::is_id(&m.id)) else { continue };
        let parent = comment.parent_id.as_ref().and_then(|p| parents.get(p));
        poll.mentions.extend(instagram_comment(comment, &media.id, media.permalink.as_deref(), own, parent));
    }
    for item in items {
        let fields = match item {
            Notified::MentionedMedia { media } if api::is_id(media) => format!(
                "mentioned_media.media_id({media}){{id,caption,timestamp,permalink,username,like_count,comments_count}}"
            ),
            Notified::MentionedComment { comment } if api::is_id(comment) => {
                format!("mentioned_comment.comment_id({comment}){{{IG_COMMENT_FIELDS},media{{id,permalink}}}}")
            }
            _ => continue,
        };
        #[derive(Deserialize)]
        struct Mentioned {
            mentioned_media: Option<Media>,
            mentioned_comment: Option<IgComment>,
        }
        let url = url_of(&endpoint, &source.target, &[("fields", &fields)])?;
        let mentioned: Mentioned = graph(credential, &url, "the mention", &mut poll).await?;
        if let Some(media) = mentioned.mentioned_media.filter(|m| normalise_handle(&m.username) != name) {
            poll.mentions.extend(media_mention(media, true));
        }
        if let Some(comment) = mentioned.mentioned_comment {
            let link = comment.media.as_ref().and_then(|m| m.permalink.clone());
            // Named in a comment on someone else's media: addressed to the brand, and
            // not a comment on its own media, which Vigie could answer.
            if let Some(mut mention) = instagram_comment(&comment, "", link.as_deref(), own, None) {
                mention.in_reply_to = None;
                mention.direct = true;
                poll.mentions.push(mention);
            }
        }
    }
    Ok(poll.mentions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: &str, from: Option<&str>, parent: Option<(&str, Option<&str>)>) -> Comment {
        let person = |id: &str| Person { id: id.into(), name: "Jane".into() };
        Comment {
            id: id.into(),
            message: "Hello?".into(),
            from: from.map(person),
            parent: parent.map(|(id, from)| Parent { id: id.into(), from: from.map(person) }),
            ..Comment::default()
        }
    }

    #[test]
    fn comments_addressed_to_the_page_and_not_its_own() {
        let top = comment_mention(comment("1_2", Some("77"), None), "9_1", "9").unwrap();
        assert!(top.direct);
        assert_eq!(top.in_reply_to.as_deref(), Some("9_1"));
        let reply = comment_mention(comment("1_3", Some("77"), Some(("1_2", Some("55")))), "9_1", "9").unwrap();
        assert!(!reply.direct, "a reply between two visitors is not addressed to the brand");
        assert_eq!(reply.in_reply_to_author.as_deref(), Some("55"));
        let answer = comment_mention(comment("1_6", Some("77"), Some(("1_4", Some("9")))), "9_1", "9").unwrap();
        assert!(answer.direct, "answering the Page's comment");
        assert!(comment_mention(comment("1_4", Some("9"), None), "9_1", "9").is_none(), "the Page's own");
        let anonymous = comment_mention(comment("1_5", None, None), "9_1", "9").unwrap();
        assert!(anonymous.author.handle.starts_with("facebook:anonymous:"));
        // A webhook names the post as the parent of a top-level comment.
        assert!(comment_mention(comment("1_7", Some("77"), Some(("9_1", None))), "9_1", "9").unwrap().direct);
    }
}
