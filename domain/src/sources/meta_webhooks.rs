//! Meta's webhooks (`/webhooks/meta`): comments on Facebook Pages and Instagram
//! accounts, and Instagram mentions, as they happen.
//!
//! Meta verifies the callback with a `GET` (`hub.mode=subscribe`, `hub.verify_token`,
//! `hub.challenge`), answered with the challenge when the token is the operator's
//! (`VIGIE_META_VERIFY_TOKEN`). Each delivery is a `POST` signed with the app secret
//! (`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`): an unsigned or
//! badly signed one changes nothing. A delivery names the Page or Instagram account
//! (`entry[].id`) and what happened there; it reaches the account sources of the
//! healthy connections of that account, in whichever agency holds one, as one
//! `sources.meta_notified` job each, which reads the items from Graph with the source's
//! connection (a delivery says too little for a mention) and stores them as a poll
//! would. The request only checks and enqueues, so Meta gets its answer at once.
//! Storing is an upsert on (source, id), so a delivery sent again, or read again by a
//! poll, is stored once.

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

use super::collectors::meta::Notified;
use crate::System;
use crate::connections::Credential;
use crate::entities::{brand, connection, source};
use crate::mentions::store::{self, Provenance};
use crate::platform::jobs::{JobError, Registry};
use crate::platform::queue::JobPayload;
use crate::{Error, Result, Services};

/// The largest delivery read (Meta batches up to a thousand changes).
pub const MAX_BODY: usize = 4 << 20;
/// Changes read per delivery at most.
const MAX_CHANGES: usize = 1_000;
/// Items one job reads.
const ITEMS_PER_JOB: usize = 50;

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
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: serde_json::Value,
}

/// What a change says happened, if it is one Vigie reads: a comment added or edited on
/// a Page's post; a comment on an Instagram account's media, or a mention of it.
fn notified(network: &str, change: Change) -> Option<Notified> {
    let text = |key: &str| change.value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    match (network, change.field.as_str()) {
        ("facebook", "feed") => {
            let comment =
                text("item").as_deref() == Some("comment") && matches!(text("verb").as_deref(), Some("add" | "edited"));
            if !comment {
                return None;
            }
            Some(Notified::Comment { id: text("comment_id")?, post: text("post_id") })
        }
        ("instagram", "comments") => Some(Notified::Comment { id: text("id")?, post: None }),
        ("instagram", "mentions") => match (text("comment_id"), text("media_id")) {
            (Some(comment), _) => Some(Notified::MentionedComment { comment }),
            (None, Some(media)) => Some(Notified::MentionedMedia { media }),
            _ => None,
        },
        _ => None,
    }
}

/// What a delivery did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Jobs enqueued (one per source and 50 items).
    pub jobs: usize,
}

/// Handles a delivery: checks its signature, then enqueues the reading of what it
/// notified for every source watching the account. A bad signature is
/// `Unauthenticated`; a signed delivery that cannot be read is logged and dropped (Meta
/// would send it again and again).
pub async fn deliver(services: &Services, body: &[u8], signature: Option<&str>) -> Result<Delivered> {
    // Without the app, no signature can be valid.
    let secret = services.config.meta.as_ref().map(|app| app.client_secret.as_str());
    if !secret.zip(signature).is_some_and(|(secret, s)| signed(secret, body, s)) {
        tracing::warn!("a Meta webhook delivery with no valid signature was refused");
        return Err(Error::Unauthenticated("the delivery's X-Hub-Signature-256 does not match".into()));
    }
    let delivery: Delivery = match serde_json::from_slice(body) {
        Ok(delivery) => delivery,
        Err(e) => {
            tracing::warn!(error = %e, "a signed Meta webhook delivery could not be read; dropped");
            return Ok(Delivered::default());
        }
    };
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
        let mut items: Vec<Notified> = changes.into_iter().filter_map(|c| notified(network, c)).collect();
        items.dedup();
        if !items.is_empty() {
            done.jobs += enqueue_for(services, network, &entry.id, items).await?;
        }
    }
    tracing::info!(network, jobs = done.jobs, "Meta webhook delivery accepted");
    Ok(done)
}

/// Enqueues the reading of `items` for each enabled account source of a healthy
/// connection of account `account` on `network` that serves the source's brand.
async fn enqueue_for(services: &Services, network: &str, account: &str, items: Vec<Notified>) -> Result<usize> {
    let connections: Vec<connection::Model> = connection::Entity::find()
        .filter(connection::Column::Network.eq(network))
        .filter(connection::Column::AccountId.eq(account))
        .filter(connection::Column::Healthy.eq(true))
        .all(&services.db)
        .await?;
    if connections.is_empty() {
        return Ok(0);
    }
    let sources = source::Entity::find()
        .filter(source::Column::ConnectionId.is_in(connections.iter().map(|c| c.id)))
        .filter(source::Column::Network.eq(network))
        .filter(source::Column::Kind.eq("account"))
        .filter(source::Column::Target.eq(account))
        .filter(source::Column::Enabled.eq(true))
        .all(&services.db)
        .await?;
    let mut jobs = 0;
    for source in sources {
        // The connection must still serve the source's brand (as a poll checks).
        let serves = connections
            .iter()
            .any(|c| Some(c.id) == source.connection_id && crate::connections::serves(c, source.brand_id));
        if !serves {
            continue;
        }
        for chunk in items.chunks(ITEMS_PER_JOB) {
            let job = FetchNotified { source_id: source.id, items: chunk.to_vec() };
            crate::platform::jobs::enqueue(services, Some(source.agency_id), &job).await?;
            jobs += 1;
        }
    }
    Ok(jobs)
}

/// Reads what a webhook notified for one source, and stores it.
#[derive(Debug, Serialize, Deserialize)]
pub struct FetchNotified {
    pub source_id: Uuid,
    pub items: Vec<Notified>,
}

impl JobPayload for FetchNotified {
    const KIND: &'static str = "sources.meta_notified";
}

pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, job: FetchNotified| async move { fetch(&services, job).await });
}

/// Runs a [`FetchNotified`]: a source or connection gone, disabled or refused drops it;
/// the network's passing failures retry it.
async fn fetch(services: &Services, job: FetchNotified) -> std::result::Result<(), JobError> {
    let Some(source) = source::Entity::find_by_id(job.source_id).one(&services.db).await.map_err(Error::from)? else {
        return Ok(());
    };
    let Some(brand) = brand::Entity::find_by_id(source.brand_id).one(&services.db).await.map_err(Error::from)? else {
        return Ok(());
    };
    if !source.enabled || source.kind != "account" {
        return Ok(());
    }
    let credential = match Credential::of_source(services, &source).await {
        Ok(Some(credential)) => credential,
        Ok(None) => return Ok(()),
        Err(e) => {
            tracing::info!(source_id = %source.id, error = %e, "notified items not read: the connection cannot be used");
            return Ok(());
        }
    };
    let read = super::collectors::meta::notified(&credential, &source, &job.items).await;
    credential.finish(read.is_ok()).await;
    let mentions = match read {
        Ok(mentions) => mentions,
        Err(super::collectors::CollectError::Credential(e)) => {
            tracing::info!(source_id = %source.id, error = %e, "notified items not read: the connection was refused");
            return Ok(());
        }
        // Meta will not change its mind: the next poll reads what it can.
        Err(e @ super::collectors::CollectError::Refused(_)) => {
            tracing::info!(source_id = %source.id, error = %e, "notified items not read: Meta refused them");
            return Ok(());
        }
        Err(e) => return Err(JobError::Retry(e.to_string())),
    };
    let stored = store::store(System::new(), services, &brand, &source, mentions, Provenance::Collected).await?;
    tracing::info!(source_id = %source.id, stored, "notified items stored");
    Ok(())
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
