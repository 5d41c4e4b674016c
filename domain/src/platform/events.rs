//! The event outbox. A state change that webhooks, subscriptions or email react to writes
//! an event row in the same transaction, so an event exists exactly when its change
//! committed; fan-out reads rows not yet dispatched.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use uuid::Uuid;

use crate::entities::event;
use crate::platform::db::batches;
use crate::{Result, new_id, now};

/// An author's influence score reached the brand's discovery threshold.
pub const INFLUENCER_DISCOVERED: &str = "influencer.discovered";
/// A source kept failing and is marked unhealthy.
pub const SOURCE_UNHEALTHY: &str = "source.unhealthy";
/// A connection's credentials were refused by its network (revoked, changed password).
pub const CONNECTION_UNHEALTHY: &str = "connection.unhealthy";
/// A mention addresses the brand and asks or complains.
pub const MENTION_SOLICITATION: &str = "mention.solicitation";

/// A negative spike opened a crisis alert.
pub const CRISIS_OPENED: &str = "crisis.opened";
/// An open alert got new evidence, a higher severity, or was reopened.
pub const CRISIS_UPDATED: &str = "crisis.updated";
/// An alert was resolved.
pub const CRISIS_RESOLVED: &str = "crisis.resolved";
/// Negative mentions touching a stated value opened an alert.
pub const VALUE_GAP_OPENED: &str = "value_gap.opened";
/// A mobilisation alert opened: calls to boycott or act against the brand grow.
pub const MOBILISATION_OPENED: &str = "mobilisation.opened";
/// A positive spike opened: praise far above the brand's baseline.
pub const POSITIVE_SPIKE_OPENED: &str = "positive_spike.opened";
/// A ticket reached 80 % of its response target (written by the SLA clock).
pub const SLA_AT_RISK: &str = "sla.at_risk";
/// A ticket passed its due time unanswered (written by the SLA clock).
pub const SLA_BREACHED: &str = "sla.breached";
/// Sent by `sendTestEvent` to one endpoint only.
pub const WEBHOOK_TEST: &str = "webhook.test";

/// The event types webhook endpoints may subscribe to.
pub const TYPES: &[&str] = &[
    CRISIS_OPENED,
    CRISIS_UPDATED,
    CRISIS_RESOLVED,
    VALUE_GAP_OPENED,
    MOBILISATION_OPENED,
    POSITIVE_SPIKE_OPENED,
    SLA_AT_RISK,
    SLA_BREACHED,
    MENTION_SOLICITATION,
    INFLUENCER_DISCOVERED,
    SOURCE_UNHEALTHY,
    CONNECTION_UNHEALTHY,
];

/// The job that fans new outbox events out to their subscribers (webhook endpoints, which
/// register its handler), then re-enqueues overdue deliveries.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct DispatchEvents {}

impl crate::platform::queue::JobPayload for DispatchEvents {
    const KIND: &'static str = "events.dispatch";
}

/// Asks for undispatched events to be fanned out now (after the transaction that wrote
/// them committed). Failing to ask is harmless: the periodic sweep dispatches them.
pub(crate) async fn dispatch_soon(services: &crate::Services, tenant: Option<Uuid>) {
    if let Err(error) = crate::platform::jobs::enqueue(services, tenant, &DispatchEvents {}).await {
        tracing::warn!(error = %crate::platform::error::chain(&error), "cannot enqueue event dispatch; the periodic sweep will do it");
    }
}

/// Writes an event in the caller's transaction.
pub(crate) async fn record(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    brand_id: Option<Uuid>,
    kind: &str,
    payload: serde_json::Value,
) -> Result<Uuid> {
    let row = row(agency_id, brand_id, kind, payload, now());
    let id = row.id.clone().unwrap();
    row.insert(db).await?;
    tracing::info!(%agency_id, ?brand_id, kind, event_id = %id, "event recorded");
    Ok(id)
}

/// Writes events of one kind in the caller's transaction, a few hundred per statement
/// (a batch of mentions can hold hundreds of solicitations).
pub(crate) async fn record_many(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    brand_id: Option<Uuid>,
    kind: &str,
    payloads: Vec<serde_json::Value>,
) -> Result<()> {
    let (at, count) = (now(), payloads.len());
    let rows = payloads.into_iter().map(|payload| row(agency_id, brand_id, kind, payload, at)).collect();
    for chunk in batches(rows, 512) {
        event::Entity::insert_many(chunk).exec_without_returning(db).await?;
    }
    tracing::info!(%agency_id, ?brand_id, kind, count, "events recorded");
    Ok(())
}

/// An event row, not yet written.
pub(crate) fn row(
    agency_id: Uuid,
    brand_id: Option<Uuid>,
    kind: &str,
    payload: serde_json::Value,
    at: chrono::DateTime<chrono::Utc>,
) -> event::ActiveModel {
    event::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(agency_id),
        brand_id: Set(brand_id),
        kind: Set(kind.to_owned()),
        payload: Set(payload),
        created_at: Set(at),
        dispatched_at: Set(None),
        trace_parent: Set(crate::platform::telemetry::traceparent()),
    }
}
