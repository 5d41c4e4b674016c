//! LinkedIn organisation pages, through the connection of the organisation (see
//! [`crate::connections::linkedin`]): an **account** source is the connection's
//! organisation, whose 10 latest posts (`/rest/posts?q=author`) have their comments
//! read (`/rest/socialActions/{post}/comments`, 50 a page), down to the newest comment
//! stored less an overlap (stored once). Comments on the organisation's posts are
//! addressed to the brand; its own are not mentions. LinkedIn gives commenters' names
//! to no one but their connections: authors are known by their member URN.
//!
//! LinkedIn's limits are daily, per application and per member, without headers; a 429
//! waits an hour.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

use super::{CollectError, Collector, MAX_PAGES, Poll, clip, json};
use crate::connections::Credential;
use crate::connections::linkedin::{self as api, Comment, encode, organisation};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention};
use crate::platform::outbound::Http;

pub struct LinkedinCollector;

/// Latest posts whose comments a poll reads.
const POSTS: usize = 10;
/// How far before the newest comment stored a poll still reads.
const OVERLAP: chrono::Duration = chrono::Duration::minutes(30);
/// The wait after a 429, LinkedIn saying nothing of it.
const LIMITED: Duration = Duration::from_secs(3_600);

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mark {
    since: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    elements: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct Post {
    #[serde(default)]
    id: String,
}

/// GETs a versioned page with the connection (which adds LinkedIn's headers).
async fn page<T: serde::de::DeserializeOwned>(
    credential: &Credential<'_>,
    url: &str,
    what: &str,
) -> Result<Page<T>, CollectError> {
    let fetched = credential.request(url, None).await?;
    match fetched.status {
        200 => json(&fetched.body, what),
        429 => Err(CollectError::RateLimited {
            retry_after: crate::platform::outbound::retry_after(&fetched.headers).or(Some(LIMITED)),
        }),
        403 => Err(CollectError::Refused(format!(
            "LinkedIn refused to give {what} (403): is the member still an administrator?"
        ))),
        status => Err(CollectError::Status(status)),
    }
}

/// A comment on one of the organisation's posts as a mention.
fn to_mention(comment: &Comment, own: &str) -> Option<NewMention> {
    let urn = comment.urn()?;
    let text = comment.text().trim();
    let actor = comment.actor.strip_prefix("urn:li:")?;
    if text.is_empty() || comment.actor == own || actor.len() > 200 {
        return None;
    }
    let parent = comment.parent_comment.clone().filter(|p| api::is_comment_urn(p));
    Some(NewMention {
        url: api::link(&urn),
        external_id: urn.clone(),
        network: "linkedin".into(),
        text: clip(text.to_owned()),
        lang: None,
        published_at: comment.at().unwrap_or_else(Utc::now).min(Utc::now()),
        author: NewAuthor {
            handle: format!("linkedin:{}", actor.to_lowercase()),
            display_name: None,
            profile_url: None,
            followers: None,
            following: None,
            verified: false,
            account_created_at: None,
            authoritative: true,
        },
        likes: 0,
        shares: 0,
        replies: 0,
        views: 0,
        // A reply's thread is its parent comment; a comment's, its post.
        in_reply_to: parent.clone().or_else(|| comment.object.clone()),
        in_reply_to_author: None,
        direct: parent.is_none(),
        rating: None,
    })
}

#[async_trait::async_trait]
impl Collector for LinkedinCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "LinkedIn")?;
        let (account, _) = credential.account().await;
        if account.as_deref() != Some(source.target.as_str()) || !api::is_numeric(&source.target) {
            return Err(CollectError::Refused("this source reads its connection's own organisation".into()));
        }
        let own = organisation(&source.target);
        let mark: Mark = super::mark_of(source.cursor.as_ref());
        let endpoint = credential.endpoint().await;
        let endpoint = endpoint.trim_end_matches('/');
        let mut poll = Poll::default();
        let url = format!("{endpoint}/posts?author={}&q=author&count={POSTS}&sortBy=LAST_MODIFIED", encode(&own));
        let posts: Page<Post> = page(credential, &url, "the organisation's posts").await?;
        let is_new = |at: Option<DateTime<Utc>>| match (mark.since, at) {
            (Some(since), Some(at)) => at >= since - OVERLAP,
            _ => true,
        };
        let mut newest = mark.since;
        let mut cut_short = false;
        // Each post's first page, and this many further pages of busy posts; a thread
        // longer than that does not hold the mark (it would for good): its older
        // comments are skipped.
        let mut budget = MAX_PAGES;
        for post in posts.elements.into_iter().filter(|p| p.id.starts_with("urn:li:")) {
            let mut start = 0;
            loop {
                if start > 0 {
                    if budget == 0 {
                        tracing::warn!(source_id = %source.id, "a post has more new comments than a poll reads: its older ones are skipped");
                        break;
                    }
                    budget -= 1;
                }
                let url = format!("{endpoint}/socialActions/{}/comments?start={start}&count=50", encode(&post.id));
                let comments: Page<Comment> = match page(credential, &url, "comments").await {
                    Ok(comments) => comments,
                    Err(e @ CollectError::RateLimited { .. }) if poll.mentions.is_empty() => return Err(e),
                    Err(e) => {
                        poll.incomplete = Some(e);
                        cut_short = true;
                        break;
                    }
                };
                let read = comments.elements.len();
                let mut all_new = read > 0;
                for comment in &comments.elements {
                    let at = comment.at();
                    if !is_new(at) {
                        all_new = false;
                        continue;
                    }
                    newest = newest.max(at.map(|at| at.min(Utc::now())));
                    poll.mentions.extend(to_mention(comment, &own));
                }
                // A busy thread's older comments, once a first poll set the mark.
                if read < 50 || !all_new || mark.since.is_none() {
                    break;
                }
                start += read;
            }
            if cut_short {
                break;
            }
        }
        let since = if cut_short { mark.since } else { newest };
        poll.cursor = Some(json!(Mark { since }));
        Ok(poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organisations_own_comments_are_not_mentions() {
        let comment = |actor: &str, parent: Option<&str>| -> Comment {
            serde_json::from_value(serde_json::json!({
                "actor": actor, "id": "2", "object": "urn:li:activity:1",
                "commentUrn": "urn:li:comment:(urn:li:activity:1,2)",
                "message": { "text": "Bonjour ?" }, "created": { "time": 1_764_930_000_000i64 },
                "parentComment": parent
            }))
            .unwrap()
        };
        let own = organisation("42");
        assert!(to_mention(&comment(&own, None), &own).is_none());
        let asked = to_mention(&comment("urn:li:person:Ab1", None), &own).unwrap();
        assert!(asked.direct);
        assert_eq!(asked.author.handle, "linkedin:person:ab1");
        assert_eq!(asked.in_reply_to.as_deref(), Some("urn:li:activity:1"));
        let reply =
            to_mention(&comment("urn:li:person:Cd2", Some("urn:li:comment:(urn:li:activity:1,1)")), &own).unwrap();
        assert!(!reply.direct);
    }
}
