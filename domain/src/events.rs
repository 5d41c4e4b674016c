//! The event outbox. A state change that webhooks, subscriptions or email react to writes
//! an event row in the same transaction, so an event exists exactly when its change
//! committed; fan-out reads rows not yet dispatched.

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::entities::event;
use crate::{Result, new_id, now};

/// An author's influence score reached the brand's discovery threshold.
pub const INFLUENCER_DISCOVERED: &str = "influencer.discovered";
/// A source kept failing and is marked unhealthy.
pub const SOURCE_UNHEALTHY: &str = "source.unhealthy";
/// A mention addresses the brand and asks or complains.
pub const MENTION_SOLICITATION: &str = "mention.solicitation";

/// Writes an event in the caller's transaction.
pub async fn record(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    brand_id: Option<Uuid>,
    kind: &str,
    payload: serde_json::Value,
) -> Result<Uuid> {
    let id = new_id();
    event::ActiveModel {
        id: Set(id),
        agency_id: Set(agency_id),
        brand_id: Set(brand_id),
        kind: Set(kind.to_owned()),
        payload: Set(payload),
        created_at: Set(now()),
        dispatched_at: Set(None),
    }
    .insert(db)
    .await?;
    tracing::info!(%agency_id, ?brand_id, kind, event_id = %id, "event recorded");
    Ok(id)
}
