//! Meta's webhooks (`/webhooks/meta`): comments on Facebook Pages and Instagram
//! accounts, delivered as they are made, stored at once as the polls would store them.
//!
//! Meta verifies the callback with a `GET` (`hub.mode=subscribe`, `hub.verify_token`,
//! `hub.challenge`), answered with the challenge when the token is the operator's
//! (`VIGIE_META_VERIFY_TOKEN`). Each delivery is a `POST` signed with the app secret
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`): an unsigned or
//! badly signed one changes nothing. A delivery names the Page or Instagram account
//! (`entry[].id`); it reaches the account sources of the healthy connections of that
//! account, in whichever agency holds one. Storing is an upsert on (source, id), so a
//! delivery sent again, or read again by a poll, is stored once.

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use sha2::Sha256;

use super::collectors::meta::{Comment, IgComment, Parent, Person, comment_mention, instagram_comment};
use crate::System;
use crate::entities::{brand, connection, source};
use crate::mentions::store::{self, NewMention, Provenance};
use crate::{Error, Result, Services};

/// The largest delivery read (Meta batches up to a thousand changes).
pub const MAX_BODY: usize = 4 << 20;
/// Changes read per delivery at most.
const MAX_CHANGES: usize = 1_000;

/// Answers Meta's verification of the callback: the challenge, when the mode is
/// `subscribe` and the token the operator's; `None` otherwise.
pub fn verify(config: &crate::Config, mode: &str, token: &str, challenge: &str) -> Option<String> {
    let expected = config.meta_verify_token.as_deref()?;
    let same: bool = expected.len() == token.len()
        && expected.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    let challenge_ok =
        !challenge.is_empty() && challenge.len() <= 256 && challenge.bytes().all(|b| b.is_ascii_graphic());
    (mode == "subscribe" && same && challenge_ok).then(|| challenge.to_owned())
}

/// Whether `header` (`sha256=<hex>`) signs `body` with the app secret.
pub fn signed(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex) = header.trim().strip_prefix("sha256=") else { return false };
    let Some(given) = decode_hex(hex) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) else { return false };
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 {
        return None;
    }
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect()
}

#[derive(Debug, Deserialize)]
struct Delivery {
    #[serde(default)]
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default)]
    id: String,
    #[serde(default)]
    time: i64,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// A Page's `feed` change.
#[derive(Debug, Deserialize)]
struct FeedValue {
    #[serde(default)]
    item: String,
    #[serde(default)]
    verb: String,
    comment_id: Option<String>,
    post_id: Option<String>,
    parent_id: Option<String>,
    #[serde(default)]
    message: String,
    from: Option<Person>,
    created_time: Option<i64>,
}

/// An Instagram `comments` change.
#[derive(Debug, Deserialize)]
struct IgValue {
    id: String,
    #[serde(default)]
    text: String,
    from: Option<super::collectors::meta::IgUser>,
    media: Option<IgMedia>,
    parent_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct IgMedia {
    id: String,
}

/// What a delivery did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub stored: usize,
}

/// Handles a delivery: checks its signature, then stores the comments it carries for
/// every source watching their account. A bad signature is `Unauthenticated`.
pub async fn deliver(services: &Services, body: &[u8], signature: Option<&str>) -> Result<Delivered> {
    // Without the app, no signature can be valid.
    let secret = services.config.meta.as_ref().map(|app| app.client_secret.as_str());
    if !secret.zip(signature).is_some_and(|(secret, s)| signed(secret, body, s)) {
        tracing::warn!("a Meta webhook delivery with no valid signature was refused");
        return Err(Error::Unauthenticated("the delivery's X-Hub-Signature-256 does not match".into()));
    }
    let delivery: Delivery =
        serde_json::from_slice(body).map_err(|e| Error::bad_input("body", format!("not a Meta delivery: {e}")))?;
    let network = match delivery.object.as_str() {
        "page" => "facebook",
        "instagram" => "instagram",
        // Other objects (users, permissions) are not mentions.
        _ => return Ok(Delivered::default()),
    };
    let mut done = Delivered::default();
    let mut budget = MAX_CHANGES;
    for entry in delivery.entry {
        if budget == 0 || !crate::connections::meta::is_id(&entry.id) {
            continue;
        }
        let changes: Vec<Change> = entry.changes.into_iter().take(budget).collect();
        budget -= changes.len();
        let mentions: Vec<NewMention> = changes
            .into_iter()
            .filter_map(|change| match network {
                "facebook" => feed_mention(change, &entry.id, entry.time),
                _ => instagram_mention(change, &entry.id, entry.time),
            })
            .collect();
        if mentions.is_empty() {
            continue;
        }
        done.stored += store_for(services, network, &entry.id, mentions).await?;
    }
    tracing::info!(network, stored = done.stored, "Meta webhook delivery stored");
    Ok(done)
}

fn rfc3339(unix: Option<i64>) -> Option<String> {
    chrono::DateTime::from_timestamp(unix?, 0).map(|at| at.to_rfc3339())
}

/// A comment added to (or edited on) a post of Page `page`.
fn feed_mention(change: Change, page: &str, time: i64) -> Option<NewMention> {
    if change.field != "feed" {
        return None;
    }
    let value: FeedValue = serde_json::from_value(change.value).ok()?;
    if value.item != "comment" || !matches!(value.verb.as_str(), "add" | "edited") {
        return None;
    }
    let post = value.post_id.filter(|p| crate::connections::meta::is_id(p))?;
    // A top-level comment's parent is the post.
    let parent = value.parent_id.filter(|p| *p != post).map(|id| Parent { id, from: None });
    let comment = Comment {
        id: value.comment_id?,
        message: value.message,
        created_time: rfc3339(value.created_time.or(Some(time))),
        permalink_url: None,
        from: value.from,
        parent,
        like_count: 0,
        comment_count: 0,
    };
    comment_mention(comment, &post, page)
}

/// A comment on media of the Instagram account.
fn instagram_mention(change: Change, account: &str, time: i64) -> Option<NewMention> {
    if change.field != "comments" {
        return None;
    }
    let value: IgValue = serde_json::from_value(change.value).ok()?;
    let media = value.media?.id;
    let comment = IgComment {
        id: value.id,
        text: value.text,
        timestamp: rfc3339(Some(time)),
        from: value.from,
        parent_id: value.parent_id,
        ..IgComment::default()
    };
    // The account's own comments are told by their author's id.
    instagram_comment(&comment, &media, None, (account, ""))
}

/// Stores `mentions` of account `account` on `network` for each enabled account source
/// of a healthy connection of that account.
async fn store_for(services: &Services, network: &str, account: &str, mentions: Vec<NewMention>) -> Result<usize> {
    let connections: Vec<connection::Model> = connection::Entity::find()
        .filter(connection::Column::Network.eq(network))
        .filter(connection::Column::AccountId.eq(account))
        .filter(connection::Column::Healthy.eq(true))
        .all(&services.db)
        .await?;
    let ids: Vec<_> = connections.iter().map(|c| c.id).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let sources = source::Entity::find()
        .filter(source::Column::ConnectionId.is_in(ids))
        .filter(source::Column::Network.eq(network))
        .filter(source::Column::Kind.eq("account"))
        .filter(source::Column::Target.eq(account))
        .filter(source::Column::Enabled.eq(true))
        .all(&services.db)
        .await?;
    let mut stored = 0;
    for source in sources {
        // The connection must still serve the source's brand (as a poll checks).
        let serves = connections
            .iter()
            .any(|c| Some(c.id) == source.connection_id && c.brand_id.is_none_or(|b| b == source.brand_id));
        if !serves {
            continue;
        }
        let Some(brand) = brand::Entity::find_by_id(source.brand_id).one(&services.db).await? else { continue };
        let own: Vec<NewMention> = mentions.iter().map(NewMention::clone).collect();
        stored += store::store(System::new(), services, &brand, &source, own, Provenance::Collected).await?;
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_on_the_raw_body() {
        let body = br#"{"object":"page","entry":[]}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(signed("app-secret", body, &format!("sha256={hex}")));
        assert!(!signed("other-secret", body, &format!("sha256={hex}")));
        assert!(!signed("app-secret", br#"{"object":"page","entry":[{}]}"#, &format!("sha256={hex}")));
        assert!(!signed("app-secret", body, &hex), "the prefix is required");
        assert!(!signed("app-secret", body, "sha256=zz"));
    }
}
