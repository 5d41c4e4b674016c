//! Trustpilot reviews, through an API-key connection: an **account** source is a
//! business unit (its id, or the domain it reviews, looked up once with
//! `/business-units/find` and kept in the cursor), whose reviews are read from
//! `/business-units/{id}/reviews` newest first, 100 a page, down to the newest one
//! stored; a poll stopped by its page budget goes on from the page it did not read.
//! Each review keeps its stars as the mention's rating, which makes it addressed to the
//! brand, and a complaint at 1 or 2 stars whatever its words.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{CollectError, Collector, MAX_PAGES, Poll, check, clip, count, json};
use crate::connections::trustpilot::{BusinessUnit, is_unit_id, review_link};
use crate::connections::{Credential, CredentialError};
use crate::entities::source;
use crate::mentions::store::{NewAuthor, NewMention, normalise_handle};
use crate::platform::outbound::Http;

pub struct TrustpilotCollector;

const PER_PAGE: usize = 100;
/// How long before the newest review stored the reading goes on.
const LATE: chrono::Duration = chrono::Duration::hours(48);

#[derive(Debug, Default, Deserialize)]
struct Page {
    #[serde(default)]
    reviews: Vec<Review>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
struct Link {
    #[serde(default)]
    rel: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    #[serde(default)]
    id: String,
    consumer: Option<Consumer>,
    #[serde(default)]
    stars: i64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
    language: Option<String>,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    number_of_likes: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consumer {
    #[serde(default)]
    id: String,
    #[serde(default)]
    display_name: String,
}

/// Trustpilot's times, with or without their zone (UTC either way).
fn time_of(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|at| at.and_utc()))
}

fn to_mention(review: Review, at: DateTime<Utc>) -> Option<NewMention> {
    let consumer = review.consumer.filter(|c| !c.id.is_empty())?;
    if review.id.is_empty() || !(1..=5).contains(&review.stars) {
        return None;
    }
    let text = match (review.title.trim(), review.text.trim()) {
        ("", "") => return None,
        (title, "") => title.to_owned(),
        ("", text) => text.to_owned(),
        (title, text) if text.starts_with(title.trim_end_matches('…')) => text.to_owned(),
        (title, text) => format!("{title}\n\n{text}"),
    };
    Some(NewMention {
        url: Some(review_link(&review.id)),
        external_id: review.id.chars().take(255).collect(),
        network: "trustpilot".into(),
        text: clip(text),
        lang: review.language.filter(|l| l.len() == 2),
        published_at: at,
        author: NewAuthor {
            // Display names are not unique: the consumer's id is the handle.
            handle: normalise_handle(&consumer.id),
            display_name: (!consumer.display_name.is_empty()).then_some(consumer.display_name),
            profile_url: Some(format!("https://www.trustpilot.com/users/{}", consumer.id)),
            followers: None,
            following: None,
            verified: false,
            account_created_at: None,
            authoritative: true,
        },
        likes: count(review.number_of_likes),
        shares: 0,
        replies: 0,
        views: 0,
        in_reply_to: None,
        in_reply_to_author: None,
        direct: false,
        rating: Some(review.stars as i16),
    })
}

/// Where the reading stands: after `since` (the newest review stored) and, when the
/// last poll stopped before reaching it, from page `resume`, `newest` being the newest
/// review that poll saw. New reviews push older ones down the pages, so a resumed page
/// repeats some, stored once; none is skipped.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Mark {
    since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resume: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    newest: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit_id: Option<String>,
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.max(b)
}

/// The id of the business unit a source names: itself, or the one its domain finds.
async fn unit_id(credential: &Credential<'_>, target: &str) -> Result<String, CollectError> {
    if is_unit_id(target) {
        return Ok(target.to_owned());
    }
    let endpoint = credential.endpoint().await;
    let mut url = url::Url::parse(&format!("{}/business-units/find", endpoint.trim_end_matches('/')))
        .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
    url.query_pairs_mut().append_pair("name", target);
    let fetched = credential.request(url.as_str(), None).await?;
    if fetched.status == 404 {
        return Err(CollectError::Credential(CredentialError::Failed(format!(
            "Trustpilot has no business unit for {target}"
        ))));
    }
    let unit: BusinessUnit = json(&check(fetched)?.body, "Trustpilot business unit")?;
    if !is_unit_id(&unit.id) {
        return Err(CollectError::Malformed(format!("Trustpilot named a business unit {:.40}", unit.id)));
    }
    Ok(unit.id)
}

#[async_trait::async_trait]
impl Collector for TrustpilotCollector {
    async fn poll(
        &self,
        _http: &Http,
        source: &source::Model,
        credential: Option<&Credential<'_>>,
    ) -> Result<Poll, CollectError> {
        let credential = super::signed_in(credential, "Trustpilot")?;
        let mut mark: Mark = super::mark_of(source.cursor.as_ref());
        let unit = match mark.unit_id.clone().filter(|id| is_unit_id(id)) {
            Some(id) => id,
            None => unit_id(credential, &source.target).await?,
        };
        mark.unit_id = Some(unit.clone());
        let endpoint = credential.endpoint().await;
        let mut poll = Poll::default();
        let since = mark.since;
        let mut newest = None;
        let first = mark.resume.unwrap_or(1);
        for (index, page_number) in (first..first + MAX_PAGES as u32).enumerate() {
            let mut url = url::Url::parse(&format!("{}/business-units/{unit}/reviews", endpoint.trim_end_matches('/')))
                .map_err(|e| CollectError::Malformed(format!("bad endpoint: {e}")))?;
            url.query_pairs_mut()
                .append_pair("orderBy", "createdat.desc")
                .append_pair("perPage", &PER_PAGE.to_string())
                .append_pair("page", &page_number.to_string());
            let page = super::signed_page::<Page>(credential, url.as_str(), "Trustpilot reviews", &mut poll).await;
            let page = match page {
                Ok(page) => page,
                Err(e) if index > 0 => {
                    poll.incomplete = Some(e);
                    let newest = later(newest, mark.newest);
                    poll.cursor = Some(json!(Mark { resume: Some(page_number), newest, ..mark }));
                    return Ok(poll);
                }
                // A resumed page that fails may be past the last one now: the next
                // poll starts again from the first, down to the newest review stored.
                Err(e) if mark.resume.is_some() => {
                    poll.incomplete = Some(e);
                    poll.cursor = Some(json!(Mark { resume: None, newest: None, ..mark }));
                    return Ok(poll);
                }
                Err(e) => return Err(e),
            };
            let read = page.reviews.len();
            let mut reached_seen = false;
            for review in page.reviews {
                // A review from the future (a skewed clock) would hold the reading there.
                let Some(at) = time_of(&review.created_at).map(|at| at.min(Utc::now())) else { continue };
                // Reviews of the last two days come again (stored once): reviews held
                // for moderation are published late under their first date.
                if since.is_some_and(|since| at < since - LATE) {
                    reached_seen = true;
                    continue;
                }
                newest = later(newest, Some(at));
                poll.mentions.extend(to_mention(review, at));
            }
            let more = page.links.iter().any(|l| l.rel == "next-page") || read == PER_PAGE;
            // The first poll starts from now: one page, no backfill.
            if read == 0 || !more || since.is_none() || reached_seen {
                let since = later(later(newest, mark.newest), since);
                poll.cursor = Some(json!(Mark { since, resume: None, newest: None, ..mark }));
                return Ok(poll);
            }
        }
        // The page budget is spent before reaching what was seen: go on from here next time.
        let newest = later(newest, mark.newest);
        poll.cursor = Some(json!(Mark { resume: Some(first + MAX_PAGES as u32), newest, ..mark }));
        Ok(poll)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_trustpilot_times_with_and_without_a_zone() {
        let at = time_of("2026-11-30T09:15:07Z").unwrap();
        assert_eq!(time_of("2026-11-30T09:15:07"), Some(at));
        assert_eq!(time_of("2026-11-30T09:15:07.000"), Some(at));
        assert_eq!(time_of("yesterday"), None);
    }
}
