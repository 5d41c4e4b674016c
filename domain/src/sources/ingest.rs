//! `POST /ingest/mentions`: mentions pushed by other tools with an API key, as a JSON
//! array or NDJSON (one item a line). Each item is validated on its own; the report
//! counts what was stored and says why each rejected item was refused. Storing is an
//! upsert on (source, external id), so pushing the same items again changes nothing but
//! their counters.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::System;
use crate::api_keys::KeyPrincipal;
use crate::entities::brand;
use crate::mentions::store::{self, NewAuthor, NewMention, Provenance};
use crate::{Error, Network, Result, Services};

/// Items accepted in one request.
pub const MAX_ITEMS: usize = 1_000;
const MAX_TEXT: usize = 20_000;
const MAX_NAME: usize = 255;
const MAX_URL: usize = 2_048;

/// One pushed mention. Its constraints are checked item by item: an item that breaks
/// one is refused in the report, the others are stored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = IngestItem)]
pub struct Item {
    /// The post's id on its network; pushing it again updates the mention.
    #[schema(min_length = 1, max_length = 255, example = "109876543210")]
    external_id: String,
    network: Network,
    #[schema(format = "uri", max_length = 2048, example = "https://mastodon.example/@star/109876543210")]
    url: Option<String>,
    #[schema(min_length = 1, max_length = 20000)]
    text: String,
    /// RFC 3339, at most an hour ahead of the server's clock.
    #[schema(format = DateTime)]
    published_at: String,
    /// ISO 639-1; detected from the text when absent.
    #[schema(pattern = "^[a-z]{2}$", example = "fr")]
    lang: Option<String>,
    author: ItemAuthor,
    #[serde(default)]
    metrics: Metrics,
    /// The external id of the post this one answers.
    #[schema(max_length = 255)]
    in_reply_to: Option<String>,
    /// The handle of the account the reply answers.
    #[schema(min_length = 1, max_length = 255)]
    in_reply_to_author: Option<String>,
    /// A private message to the brand (always addressed to it).
    #[serde(default)]
    direct: bool,
    /// A review's stars, 1 to 5 (Google Business Profile, Trustpilot…): a review is
    /// addressed to the brand, and one of one or two stars is a complaint.
    #[schema(minimum = 1, maximum = 5)]
    rating: Option<i16>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = IngestAuthor)]
struct ItemAuthor {
    #[schema(min_length = 1, max_length = 255, example = "star")]
    handle: String,
    #[schema(max_length = 255)]
    display_name: Option<String>,
    #[serde(default)]
    #[schema(minimum = 0)]
    followers: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    following: i64,
    #[serde(default)]
    verified: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = IngestMetrics)]
struct Metrics {
    #[serde(default)]
    #[schema(minimum = 0)]
    likes: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    shares: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    replies: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    views: i64,
}

/// An item refused, with its position (1-based: the array index + 1, or the line).
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = IngestRejection)]
pub struct Rejection {
    #[schema(minimum = 1)]
    pub line: usize,
    pub external_id: Option<String>,
    pub reason: String,
}

/// What an ingest request did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = IngestReport)]
pub struct Report {
    /// Items stored (new or updated).
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
}

/// A validated item.
struct Valid {
    item: Item,
    handle: String,
    published_at: DateTime<Utc>,
}

/// Splits the body into items: a JSON array, or NDJSON. The items are counted before
/// they are kept: a body of more than [`MAX_ITEMS`] is refused without building them.
fn split(body: &str) -> Result<Vec<(usize, std::result::Result<serde_json::Value, String>)>> {
    let too_many = || Error::TooLarge(format!("at most {MAX_ITEMS} items per request: send several requests"));
    let trimmed = body.trim_start();
    if trimmed.starts_with('[') {
        let mut reader = serde_json::Deserializer::from_str(trimmed);
        let values = serde::Deserializer::deserialize_seq(&mut reader, AtMost(MAX_ITEMS))
            .and_then(|values| reader.end().map(|()| values))
            .map_err(|e| match e.to_string().starts_with(TOO_MANY) {
                true => too_many(),
                false => Error::bad_input("body", format!("not a JSON array: {e}")),
            })?;
        return Ok(values.into_iter().enumerate().map(|(i, v)| (i + 1, Ok(v))).collect());
    }
    let lines = || body.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
    if lines().nth(MAX_ITEMS).is_some() {
        return Err(too_many());
    }
    Ok(lines().map(|(i, line)| (i + 1, serde_json::from_str(line).map_err(|e| format!("not JSON: {e}")))).collect())
}

/// The start of the error [`AtMost`] raises.
const TOO_MANY: &str = "more items than";

/// Reads a JSON array of at most `.0` values, failing at the first one past it.
struct AtMost(usize);

impl<'de> serde::de::Visitor<'de> for AtMost {
    type Value = Vec<serde_json::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an array of at most {} items", self.0)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(value) = seq.next_element()? {
            if values.len() == self.0 {
                return Err(serde::de::Error::custom(format!("{TOO_MANY} {}", self.0)));
            }
            values.push(value);
        }
        Ok(values)
    }
}

fn validate(value: serde_json::Value) -> std::result::Result<Valid, String> {
    let item: Item = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let external_id = item.external_id.trim();
    if external_id.is_empty() || external_id.len() > 255 {
        return Err("externalId must be 1 to 255 characters".into());
    }
    if item.text.trim().is_empty() || item.text.chars().count() > MAX_TEXT {
        return Err(format!("text must be 1 to {MAX_TEXT} characters"));
    }
    let published_at = DateTime::parse_from_rfc3339(&item.published_at)
        .map_err(|e| format!("publishedAt is not an RFC 3339 date: {e}"))?
        .with_timezone(&Utc);
    if published_at > Utc::now() + Duration::hours(1) {
        return Err("publishedAt is in the future".into());
    }
    if let Some(url) = &item.url
        && (url.len() > MAX_URL || !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
    {
        return Err(format!("url must be an http(s) URL of at most {MAX_URL} characters"));
    }
    if item.in_reply_to.as_ref().is_some_and(|r| r.len() > 255) {
        return Err("inReplyTo must be at most 255 characters".into());
    }
    if item.in_reply_to_author.as_ref().is_some_and(|r| r.len() > 255 || store::normalise_handle(r).is_empty()) {
        return Err("inReplyToAuthor must be a handle of 1 to 255 characters".into());
    }
    if item.author.display_name.as_ref().is_some_and(|n| n.chars().count() > MAX_NAME) {
        return Err(format!("author.displayName must be at most {MAX_NAME} characters"));
    }
    if let Some(lang) = &item.lang
        && !(lang.len() == 2 && lang.chars().all(|c| c.is_ascii_lowercase()))
    {
        return Err("lang must be a two-letter ISO 639-1 code such as `fr`".into());
    }
    if item.rating.is_some_and(|stars| !(1..=5).contains(&stars)) {
        return Err("rating must be 1 to 5 stars".into());
    }
    let handle = store::normalise_handle(&item.author.handle);
    if handle.is_empty() || handle.len() > 255 {
        return Err("author.handle must be 1 to 255 characters".into());
    }
    let m = &item.metrics;
    if [item.author.followers, item.author.following, m.likes, m.shares, m.replies, m.views].iter().any(|n| *n < 0) {
        return Err("counts must not be negative".into());
    }
    Ok(Valid { handle, published_at, item })
}

/// Resolves the brand a key may push to.
async fn target_brand(services: &Services, key: &KeyPrincipal, requested: Option<Uuid>) -> Result<brand::Model> {
    let brand_id = match (key.brand_id, requested) {
        (Some(own), Some(asked)) if own != asked => {
            return Err(Error::forbidden("this API key is limited to another brand"));
        }
        (Some(own), _) => own,
        (None, Some(asked)) => asked,
        (None, None) => return Err(Error::bad_input("brandId", "an agency-wide key must name the brand: ?brandId=…")),
    };
    brand::Entity::find_by_id(brand_id)
        .filter(brand::Column::AgencyId.eq(key.agency_id))
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("brand"))
}

/// Validates and stores a pushed batch for the brand the key may write to.
pub async fn ingest(services: &Services, key: &KeyPrincipal, brand_id: Option<Uuid>, body: &str) -> Result<Report> {
    let brand = target_brand(services, key, brand_id).await?;
    let mut rejected = Vec::new();
    // Items with the same external id are all accepted; `mentions::store` keeps the last
    // of them (one upsert per id), so no scan of the batch per item is needed here.
    let mut valid: Vec<Valid> = Vec::new();
    for (line, parsed) in split(body)? {
        let external_id =
            parsed.as_ref().ok().and_then(|v| v.get("externalId")).and_then(|v| v.as_str()).map(str::to_owned);
        match parsed.and_then(validate) {
            Ok(item) => valid.push(item),
            Err(reason) => rejected.push(Rejection { line, external_id, reason }),
        }
    }
    let accepted = valid.len();
    if !valid.is_empty() {
        store(services, &brand, valid).await?;
    }
    tracing::info!(brand_id = %brand.id, key_id = %key.key_id, accepted, rejected = rejected.len(), "mentions ingested");
    Ok(Report { accepted, rejected })
}

async fn store(services: &Services, brand: &brand::Model, items: Vec<Valid>) -> Result<()> {
    let source = super::ingest_source(System::new(), &services.db, brand).await?;
    let mentions: Vec<NewMention> = items
        .into_iter()
        .map(|v| NewMention {
            external_id: v.item.external_id.trim().to_owned(),
            network: v.item.network.name(),
            url: v.item.url,
            text: v.item.text,
            lang: v.item.lang,
            published_at: v.published_at,
            author: NewAuthor {
                handle: v.handle,
                display_name: v.item.author.display_name,
                profile_url: None,
                // What a tenant claims stays on its own mentions: see `store`.
                followers: Some(v.item.author.followers),
                following: Some(v.item.author.following),
                verified: v.item.author.verified,
                account_created_at: None,
                authoritative: false,
            },
            likes: v.item.metrics.likes,
            shares: v.item.metrics.shares,
            replies: v.item.metrics.replies,
            views: v.item.metrics.views,
            in_reply_to: v.item.in_reply_to,
            in_reply_to_author: v.item.in_reply_to_author.as_deref().map(store::normalise_handle),
            direct: v.item.direct,
            rating: v.item.rating,
        })
        .collect();
    let networks: std::collections::BTreeSet<String> = mentions.iter().map(|m| m.network.clone()).collect();
    store::store(System::new(), services, brand, &source, mentions, Provenance::Pushed).await?;
    super::note_pushed_networks(&services.db, &source, networks).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arrays_and_ndjson_and_names_lines() {
        let ndjson = "{\"a\":1}\n\n{broken\n{\"b\":2}\n";
        let items = split(ndjson).unwrap();
        assert_eq!(
            items.iter().map(|(line, r)| (*line, r.is_ok())).collect::<Vec<_>>(),
            vec![(1, true), (3, false), (4, true)]
        );
        let array = split(" [{\"a\":1}, 2]").unwrap();
        assert_eq!(array.len(), 2);
        assert!(split("[{\"a\":").is_err());
        let many = format!("[{}]", vec!["{}"; MAX_ITEMS + 1].join(","));
        assert_eq!(split(&many).unwrap_err().code(), "PAYLOAD_TOO_LARGE");
        let at_most = format!("[{}]", vec!["{}"; MAX_ITEMS].join(","));
        assert_eq!(split(&at_most).unwrap().len(), MAX_ITEMS);
        assert_eq!(split(&"{}\n".repeat(MAX_ITEMS + 1)).unwrap_err().code(), "PAYLOAD_TOO_LARGE");
        assert_eq!(split(&"{}\n\n".repeat(MAX_ITEMS)).unwrap().len(), MAX_ITEMS, "blank lines are not items");
    }

    fn item() -> serde_json::Value {
        serde_json::json!({
            "externalId": "m-1", "network": "mastodon", "url": "https://m.example/@camille/1",
            "text": "Verdure, c'est pas mauvais du tout", "publishedAt": "2026-11-20T09:30:00+01:00", "lang": "fr",
            "author": { "handle": "@camille", "displayName": "Camille", "followers": 12000, "following": 300, "verified": false },
            "metrics": { "likes": 4, "shares": 2, "replies": 1, "views": 0 },
            "inReplyTo": "https://m.example/@verdure/0", "inReplyToAuthor": "@Verdure@M.example", "direct": false
        })
    }

    #[test]
    fn the_replied_author_is_a_handle() {
        let valid = validate(item()).expect("a valid item");
        assert_eq!(
            valid.item.in_reply_to_author.as_deref().map(store::normalise_handle).as_deref(),
            Some("verdure@m.example")
        );
        for bad in [serde_json::json!("@"), serde_json::json!(" "), serde_json::json!("a".repeat(256))] {
            let mut item = item();
            item["inReplyToAuthor"] = bad;
            assert!(validate(item).err().is_some_and(|e| e.contains("inReplyToAuthor")));
        }
    }

    /// What validation lets through is fit to store.
    fn assert_storable(valid: &Valid) {
        let item = &valid.item;
        assert!(!valid.handle.is_empty() && valid.handle.len() <= 255);
        assert!(!item.external_id.trim().is_empty() && item.external_id.len() <= 255);
        assert!(item.text.chars().count() <= MAX_TEXT);
        assert!(item.author.display_name.as_ref().is_none_or(|n| n.chars().count() <= MAX_NAME), "long name");
        assert!(item.url.as_ref().is_none_or(|u| u.len() <= MAX_URL), "long url");
        assert!(item.in_reply_to.as_ref().is_none_or(|r| r.len() <= 255), "long inReplyTo");
        assert!(
            item.in_reply_to_author.as_deref().is_none_or(|r| r.len() <= 255 && !store::normalise_handle(r).is_empty())
        );
    }

    fn check(body: &str) {
        let Ok(items) = split(body) else { return };
        assert!(items.len() <= MAX_ITEMS);
        for (_, value) in items {
            if let Ok(Ok(valid)) = value.map(validate) {
                assert_storable(&valid);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        #[test]
        fn any_body_is_split_and_validated_without_panic(body in "\\PC{0,400}") {
            check(&body);
        }

        #[test]
        fn tampered_items_are_refused_or_storable(raw in crate::fuzzing::tampered(item())) {
            let line = String::from_utf8(raw).expect("JSON is UTF-8");
            check(&line);
            check(&format!("[{line},{line}]"));
        }
    }
}
