//! X API v2, always through an OAuth 2.0 connection:
//!
//! - **search** sources: recent search (`/tweets/search/recent`, the last seven days),
//!   retweets left out unless the query asks for them;
//! - **account** sources: the posts that mention an account (`/users/{id}/mentions`),
//!   the brand's own or another one named by its username.
//!
//! Pages come newest first, 100 a page, chained by `next_token`; a poll asks for what
//! is newer than the newest post it stored (`since_id`), at most [`MAX_PAGES`] pages,
//! the next poll going on from the page it did not read. Authors come through the
//! `author_id` expansion with their follower counts and verified flag, and the author
//! a reply answers through `in_reply_to_user_id`. X says what is left of each window in
//! `x-rate-limit-*` headers, which the source and the connection show; a 429 waits for
//! the reset.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;

use super::{CollectError, Collector, MAX_PAGES, Poll, check, clip, count, json};
use crate::connections::x::{self as api, Post};
use crate::connections::{Credential, CredentialError};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention, normalise_handle};
use crate::platform::outbound::Http;

pub struct XCollector;

const TWEET_FIELDS: &str = "created_at,public_metrics,author_id,in_reply_to_user_id,referenced_tweets,lang";
const USER_FIELDS: &str = "username,name,verified,public_metrics,created_at";
const EXPANSIONS: &str = "author_id,in_reply_to_user_id";

#[derive(Debug, Default, Deserialize)]
struct Page {
    #[serde(default)]
    data: Vec<Post>,
    #[serde(default)]
    includes: Includes,
    #[serde(default)]
    meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    username: String,
    name: Option<String>,
    #[serde(default)]
    verified: bool,
    public_metrics: Option<UserMetrics>,
    /// When the account was made.
    #[serde(default)]
    created_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Deserialize)]
struct UserMetrics {
    followers_count: Option<i64>,
    following_count: Option<i64>,
}

fn to_mention(post: Post, users: &HashMap<&str, &User>) -> Option<NewMention> {
    let author = users.get(post.author_id.as_deref()?).filter(|u| !u.username.is_empty())?;
    let text = post.plain_text();
    if text.trim().is_empty() || post.id.is_empty() {
        return None;
    }
    let metrics = post.public_metrics.as_ref();
    let in_reply_to_author = post
        .in_reply_to_user_id
        .as_deref()
        .and_then(|id| users.get(id))
        .filter(|u| !u.username.is_empty())
        .map(|u| normalise_handle(&u.username));
    Some(NewMention {
        url: Some(api::link(&author.username, &post.id)),
        external_id: post.id.chars().take(255).collect(),
        network: "x".into(),
        text: clip(text),
        // `und`, `zxx` (media only), `qme` (emoji only)…: not languages.
        lang: post.lang.as_deref().filter(|l| l.len() == 2).map(str::to_owned),
        published_at: post.created_at.unwrap_or_else(chrono::Utc::now),
        author: NewAuthor {
            handle: normalise_handle(&author.username),
            display_name: author.name.clone(),
            profile_url: Some(format!("https://x.com/{}", author.username)),
            followers: author.public_metrics.as_ref().and_then(|m| m.followers_count).map(count),
            following: author.public_metrics.as_ref().and_then(|m| m.following_count).map(count),
            verified: author.verified,
            account_created_at: author.created_at,
            authoritative: true,
        },
        likes: metrics.map_or(0, |m| count(m.like_count)),
        shares: metrics.map_or(0, |m| count(m.retweet_count) + count(m.quote_count)),
        replies: metrics.map_or(0, |m| count(m.reply_count)),
        views: metrics.and_then(|m| m.impression_count).map_or(0, count),
        in_reply_to: post.replied_to().map(str::to_owned),
        in_reply_to_author,
        direct: false,
        rating: None,
    })
}

/// Where a reading stands: after `since_id` (the newest post stored) and, when the
/// last poll stopped before reaching it, from `resume` (a `next_token`), `newest`
/// being the newest post that poll saw. An account source also keeps the account's id.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mark {
    since_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
}

/// The later of two post ids: ids grow with time, compared as numbers; what is not an
/// id counts as none.
fn later(a: Option<String>, b: Option<String>) -> Option<String> {
    let a = a.filter(|id| api::is_id(id));
    let b = b.filter(|id| api::is_id(id));
    let n = |id: &Option<String>| id.as_deref().and_then(|i| i.parse::<u64>().ok());
    if n(&a) >= n(&b) { a } else { b }
}

/// When post `id` was made: X's ids carry their time (milliseconds since 2010-11-04).
fn time_of_id(id: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let id = id.parse::<u64>().ok()?;
    chrono::DateTime::from_timestamp_millis(((id >> 22) + 1_288_834_974_657) as i64)
}

/// How far back recent search reaches, less a margin.
const SEARCH_REACH: chrono::Duration = chrono::Duration::hours(166);

/// Reads `path` with `query` from `mark`, following `next_token` (sent as
/// `pagination_token` by the timelines, as `next_token` by search), down to the
/// newest post seen. Gives the new mark; a later page's failure is the poll's
/// `incomplete`, and the mark then resumes there.
async fn read(
    credential: &Credential<'_>,
    path: &str,
    query: &[(&str, &str)],
    token_param: &str,
    mark: &Mark,
    poll: &mut Poll,
) -> Result<Mark, CollectError> {
    let endpoint = credential.endpoint().await;
    let since = mark.since_id.clone();
    let mut newest = None;
    let mut token = mark.resume.clone();
    for index in 0..MAX_PAGES {
        let mut url = url::Url::parse(&format!("{}{path}", endpoint.trim_end_matches('/')))
            .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
        url.query_pairs_mut()
            .extend_pairs(query)
            .append_pair("max_results", "100")
            .append_pair("tweet.fields", TWEET_FIELDS)
            .append_pair("expansions", EXPANSIONS)
            .append_pair("user.fields", USER_FIELDS);
        if let Some(since) = &since {
            url.query_pairs_mut().append_pair("since_id", since);
        }
        if let Some(token) = &token {
            url.query_pairs_mut().append_pair(token_param, token);
        }
        let page = super::signed_page::<Page>(credential, url.as_str(), "X posts", poll).await;
        let page = match page {
            Ok(page) => page,
            Err(e) if index > 0 => {
                poll.incomplete = Some(e);
                return Ok(Mark {
                    since_id: since,
                    resume: token,
                    newest: later(newest, mark.newest.clone()),
                    ..mark.clone()
                });
            }
            Err(e) => return Err(e),
        };
        let users: HashMap<&str, &User> = page.includes.users.iter().map(|u| (u.id.as_str(), u)).collect();
        for post in page.data {
            newest = later(newest, Some(post.id.clone()));
            poll.mentions.extend(to_mention(post, &users));
        }
        // The first poll starts from now: one page, no backfill.
        match page.meta.next_token {
            Some(next) if since.is_some() => token = Some(next),
            _ => {
                let since_id = later(later(newest, mark.newest.clone()), since);
                return Ok(Mark { since_id, resume: None, newest: None, ..mark.clone() });
            }
        }
    }
    // The page budget is spent before reaching what was seen: go on from here next time.
    Ok(Mark { since_id: since, resume: token, newest: later(newest, mark.newest.clone()), ..mark.clone() })
}

/// Reads from `mark`, going on when X refuses where it stood (a 400): a stale
/// `next_token` is dropped and the reading goes on from `since_id`; a `since_id` older
/// than recent search reaches (a source paused for a week) starts again from now, and
/// the poll says that posts were missed.
async fn read_from(
    credential: &Credential<'_>,
    path: &str,
    query: &[(&str, &str)],
    token_param: &str,
    mark: Mark,
    poll: &mut Poll,
) -> Result<Mark, CollectError> {
    match read(credential, path, query, token_param, &mark, poll).await {
        Err(CollectError::Status(400)) if mark.resume.is_some() => {
            tracing::warn!(path, "X refused a page token; the reading goes on from the newest post stored");
            let fresh = Mark { resume: None, ..mark };
            Box::pin(read_from(credential, path, query, token_param, fresh, poll)).await
        }
        Err(CollectError::Status(400))
            if mark
                .since_id
                .as_deref()
                .and_then(time_of_id)
                .is_some_and(|at| at < chrono::Utc::now() - SEARCH_REACH) =>
        {
            tracing::warn!(path, "X no longer reaches the newest post stored; the reading starts again from now");
            let fresh = Mark { user_id: mark.user_id, ..Mark::default() };
            let mark = read(credential, path, query, token_param, &fresh, poll).await?;
            poll.incomplete.get_or_insert(CollectError::Malformed(
                "X's recent search no longer reaches the last post read: posts in between were missed".into(),
            ));
            Ok(mark)
        }
        other => other,
    }
}

/// The numeric id of the account named `username`: the connection's own, or looked up.
async fn user_id(credential: &Credential<'_>, username: &str) -> Result<String, CollectError> {
    #[derive(Deserialize)]
    struct Found {
        data: Option<User>,
    }
    let (id, name) = credential.account().await;
    if let Some(id) = id.filter(|id| name.eq_ignore_ascii_case(username) && api::is_id(id)) {
        return Ok(id);
    }
    let endpoint = credential.endpoint().await;
    let url = format!("{}/users/by/username/{username}", endpoint.trim_end_matches('/'));
    let fetched = check(credential.request(&url, None).await?)?;
    let found: Found = json(&fetched.body, "X user")?;
    found
        .data
        .map(|u| u.id)
        .filter(|id| api::is_id(id))
        .ok_or_else(|| CollectError::Credential(CredentialError::Failed(format!("X has no account named {username}"))))
}

#[async_trait::async_trait]
impl Collector for XCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "X")?;
        let mark: Mark = super::mark_of(source.cursor.as_ref());
        let mut poll = Poll::default();
        let mark = if source.kind == "account" {
            let id = match mark.user_id.clone() {
                Some(id) => id,
                None => user_id(credential, &source.target).await?,
            };
            let mark = Mark { user_id: Some(id.clone()), ..mark };
            read_from(credential, &format!("/users/{id}/mentions"), &[], "pagination_token", mark, &mut poll).await?
        } else {
            let query = search_query(&source.target);
            read_from(credential, "/tweets/search/recent", &[("query", &query)], "next_token", mark, &mut poll).await?
        };
        poll.cursor = Some(json!(mark));
        Ok(poll)
    }
}

/// A source's search as sent: retweets repeat their post's text, so they are left out
/// unless the query names them.
fn search_query(target: &str) -> String {
    if target.contains("is:retweet") { target.to_owned() } else { format!("({target}) -is:retweet") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_as_numbers() {
        assert_eq!(later(Some("99".into()), Some("100".into())).as_deref(), Some("100"));
        assert_eq!(later(None, Some("7".into())).as_deref(), Some("7"));
        assert_eq!(later(None, Some("abc".into())), None, "not an id");
        assert_eq!(later(Some("5".into()), Some("99999999999999999999".into())).as_deref(), Some("5"));
        let at = time_of_id("1500000000000000000").unwrap();
        assert_eq!(at.format("%Y-%m-%d").to_string(), "2022-03-05");
    }

    #[test]
    fn searches_leave_retweets_out() {
        assert_eq!(search_query("verdure OR #verdure"), "(verdure OR #verdure) -is:retweet");
        assert_eq!(search_query("verdure is:retweet"), "verdure is:retweet");
    }
}
