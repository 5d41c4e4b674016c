//! Google Business Profile reviews, through an OAuth connection: an **account**
//! source is a location (`accounts/{a}/locations/{l}`), whose reviews are read from
//! `/v4/{location}/reviews` (My Business API v4) by last update, newest first, 50 a
//! page chained by `nextPageToken`, down to the newest one stored; a poll stopped by
//! its page budget goes on from the page it did not read. Each review keeps its stars
//! as the mention's rating; one with stars and no words is kept too (it counts in the
//! mean rating, and a one-star one is a complaint).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CollectError, Collector, MAX_PAGES, Poll, clip};
use crate::connections::Credential;
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention};
use crate::platform::outbound::Http;

pub struct GoogleCollector;

/// How long before the latest update stored the reading goes on.
const LATE: chrono::Duration = chrono::Duration::hours(48);

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    #[serde(default)]
    reviews: Vec<Review>,
    next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    #[serde(default)]
    name: String,
    reviewer: Option<Reviewer>,
    #[serde(default)]
    star_rating: String,
    #[serde(default)]
    comment: String,
    create_time: Option<DateTime<Utc>>,
    update_time: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    profile_photo_url: String,
    #[serde(default)]
    is_anonymous: bool,
}

fn stars(rating: &str) -> Option<i16> {
    match rating {
        "ONE" => Some(1),
        "TWO" => Some(2),
        "THREE" => Some(3),
        "FOUR" => Some(4),
        "FIVE" => Some(5),
        _ => None,
    }
}

/// The reviewer's own words: Google gives a translated review as `(Translated by
/// Google) … (Original) …`.
fn original(comment: &str) -> &str {
    match comment.find("(Original)") {
        Some(at) if comment.trim_start().starts_with("(Translated by Google)") => comment[at + 10..].trim(),
        _ => comment.trim(),
    }
}

/// The photo's address without its size and badge options (`=s120-c-…`), which change.
fn photo_key(url: &str) -> &str {
    url.split('=').next().unwrap_or(url)
}

fn to_mention(review: Review, location: &str) -> Option<NewMention> {
    // Only the location's own reviews, named in full (a longer name is not cut into
    // another one).
    let own = review.name.strip_prefix(location).is_some_and(|rest| rest.starts_with("/reviews/"));
    if !own || !crate::connections::google::is_review_name(&review.name) || review.name.len() > 255 {
        return None;
    }
    let rating = stars(&review.star_rating);
    let text = original(&review.comment).to_owned();
    if rating.is_none() && text.is_empty() {
        return None;
    }
    let reviewer = review.reviewer.unwrap_or(Reviewer {
        display_name: String::new(),
        profile_photo_url: String::new(),
        is_anonymous: true,
    });
    // Google gives reviewers no id: their name and photo tell them apart. An anonymous
    // review is its own author, so that strangers are not merged into one.
    let (handle, display_name) = if reviewer.is_anonymous || reviewer.display_name.is_empty() {
        (format!("google:anonymous:{}", &crate::sha256_hex(&review.name)[..16]), None)
    } else {
        let key = format!("{}\n{}", reviewer.display_name, photo_key(&reviewer.profile_photo_url));
        (format!("google:{}", &crate::sha256_hex(&key)[..16]), Some(reviewer.display_name))
    };
    Some(NewMention {
        url: None,
        external_id: review.name,
        network: "google".into(),
        text: clip(text),
        lang: None,
        published_at: review.create_time.or(review.update_time).unwrap_or_else(Utc::now),
        author: NewAuthor {
            handle,
            display_name,
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
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
        rating,
    })
}

/// Where the reading stands: after `since` (the latest update stored) and, when the
/// last poll stopped before reaching it, from page token `resume`, `newest` being the
/// latest update that poll saw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mark {
    since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<DateTime<Utc>>,
}

#[async_trait::async_trait]
impl Collector for GoogleCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "Google Business Profile")?;
        if !crate::connections::google::is_location_name(&source.target) {
            return Err(CollectError::Malformed(format!("{} is not a location", source.target)));
        }
        let mark: Mark = super::mark_of(source.cursor.as_ref());
        let endpoint = credential.endpoint().await;
        let mut poll = Poll::default();
        let since = mark.since;
        let mut newest = None;
        let mut token = mark.resume.clone();
        for index in 0..MAX_PAGES {
            let mut url = url::Url::parse(&format!("{}/v4/{}/reviews", endpoint.trim_end_matches('/'), source.target))
                .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
            url.query_pairs_mut().append_pair("pageSize", "50").append_pair("orderBy", "updateTime desc");
            if let Some(token) = &token {
                url.query_pairs_mut().append_pair("pageToken", token);
            }
            let page = super::signed_page::<Page>(credential, url.as_str(), "Google reviews", &mut poll).await;
            let page = match page {
                Ok(page) => page,
                Err(e) if index > 0 => {
                    poll.incomplete = Some(e);
                    let newest = newest.max(mark.newest);
                    poll.cursor = Some(json!(Mark { since, resume: token, newest }));
                    return Ok(poll);
                }
                // A page token Google no longer takes: the next poll starts again from
                // the first page, down to the latest update stored.
                Err(e) if mark.resume.is_some() => {
                    poll.incomplete = Some(e);
                    poll.cursor = Some(json!(Mark { since, resume: None, newest: None }));
                    return Ok(poll);
                }
                Err(e) => return Err(e),
            };
            let read = page.reviews.len();
            let mut reached_seen = false;
            for review in page.reviews {
                // A time in the future (a skewed clock) would hold the reading there.
                let at = review.update_time.or(review.create_time).map(|at| at.min(Utc::now()));
                // Updates of the last two days come again (stored once): reviews held
                // by Google's spam checks are published late under their first date.
                if since.is_some_and(|since| at.is_none_or(|at| at < since - LATE)) {
                    reached_seen = true;
                    continue;
                }
                newest = newest.max(at);
                poll.mentions.extend(to_mention(review, &source.target));
            }
            // The first poll starts from now: one page, no backfill.
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(next) if read > 0 && since.is_some() && !reached_seen => token = Some(next),
                _ => {
                    let since = newest.max(mark.newest).max(since);
                    poll.cursor = Some(json!(Mark { since, resume: None, newest: None }));
                    return Ok(poll);
                }
            }
        }
        // The page budget is spent before reaching what was seen: go on from here next time.
        poll.cursor = Some(json!(Mark { since, resume: token, newest: newest.max(mark.newest) }));
        Ok(poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_reviews_keep_their_own_words() {
        assert_eq!(original("(Translated by Google) Great shop\n\n(Original)\nSuper boutique"), "Super boutique");
        assert_eq!(original("Super boutique (Original) !"), "Super boutique (Original) !");
        assert_eq!(
            photo_key("https://lh3.googleusercontent.com/a/x=s120-c-rp-mo-ba4-br100"),
            "https://lh3.googleusercontent.com/a/x"
        );
    }

    #[test]
    fn stars_are_read_from_their_names() {
        assert_eq!(stars("ONE"), Some(1));
        assert_eq!(stars("FIVE"), Some(5));
        assert_eq!(stars("STAR_RATING_UNSPECIFIED"), None);
    }
}
