//! Webhooks: an agency's endpoints receive its events, signed per Standard Webhooks,
//! with retries on a fixed schedule, a delivery log, replay, test events, and endpoints
//! that keep failing disabled with an email to the agency's owners and admins.
//!
//! Events reach endpoints in two steps ([`delivery`]): `events.dispatch` turns each new
//! outbox event into one delivery row per matching endpoint (in the transaction that
//! marks the event dispatched), then `webhooks.deliver` sends one delivery. A delivery
//! is claimed by a conditional update before it is sent, so however many jobs or
//! sweeps ask for it, one attempt runs at a time; a worker that dies mid-send leaves a
//! claim that lapses and the sweep sends it again.

pub mod delivery;
pub mod signature;

pub use crate::entities::DeliveryStatus;
pub use delivery::DeliverWebhook;
pub(crate) use delivery::register_jobs;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use std::collections::HashSet;
use uuid::Uuid;

use crate::entities::{StringList, UuidList, brand, event, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::platform::outbound::FetchError;
use crate::platform::pagination::{Page, PageRequest};
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit, platform::events, platform::validate};

/// How long the secret before a rotation keeps signing, so receivers can switch over.
pub const ROTATION_GRACE: chrono::Duration = chrono::Duration::hours(24);
/// Endpoints per agency.
const MAX_ENDPOINTS: usize = 50;

/// The secrets an endpoint signs with at `at`: its own, and during a rotation's grace
/// the previous one.
pub fn signing_secrets(endpoint: &webhook_endpoint::Model, at: DateTime<Utc>) -> impl Iterator<Item = &str> {
    let previous = endpoint
        .previous_secret
        .as_deref()
        .filter(|_| endpoint.previous_secret_expires_at.is_some_and(|until| until > at));
    std::iter::once(endpoint.secret.as_str()).chain(previous)
}

/// The fields of a new endpoint.
pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    /// Empty: every brand (and agency-wide events).
    pub brand_ids: Vec<Uuid>,
    pub enabled: bool,
}

/// Changes to an endpoint: `None` leaves a field unchanged.
#[derive(Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_types: Option<Vec<String>>,
    pub brand_ids: Option<Vec<Uuid>>,
    pub enabled: Option<bool>,
}

fn scoped(actor: &Actor) -> sea_orm::Select<webhook_endpoint::Entity> {
    webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::AgencyId.eq(actor.agency_id))
}

/// The agency's endpoints (owners and admins).
pub async fn list(services: &Services, actor: &Actor) -> Result<Vec<webhook_endpoint::Model>> {
    actor.require_manager()?;
    Ok(scoped(actor).order_by_asc(webhook_endpoint::Column::Id).all(&services.db).await?)
}

/// One endpoint of the agency (owners and admins).
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<webhook_endpoint::Model> {
    actor.require_manager()?;
    scoped(actor).filter(webhook_endpoint::Column::Id.eq(id)).one(db).await?.ok_or(Error::NotFound("webhook endpoint"))
}

async fn check_url(services: &Services, raw: &str) -> Result<String> {
    let url = validate::name("url", raw, 2_000)?;
    services.http.check_public(&url).await.map_err(|e| match e {
        FetchError::Refused(why) => Error::bad_input(
            "url",
            format!(
                "{why}: webhooks only go to public addresses (loopback, private and link-local ranges are refused)"
            ),
        ),
        FetchError::BadUrl(why) => Error::bad_input("url", format!("not an http(s) URL: {why}")),
        other => Error::bad_input("url", other.to_string()),
    })?;
    Ok(url)
}

fn check_event_types(raw: Vec<String>) -> Result<StringList> {
    let mut out: Vec<String> = Vec::new();
    for kind in raw {
        let kind = kind.trim().to_owned();
        if !events::TYPES.contains(&kind.as_str()) {
            return Err(Error::bad_input(
                "eventTypes",
                format!("unknown event type `{kind}`: use one of {}", events::TYPES.join(", ")),
            ));
        }
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    Ok(StringList(out))
}

async fn check_brands(db: &impl ConnectionTrait, actor: &Actor, ids: Vec<Uuid>) -> Result<UuidList> {
    let unique: HashSet<Uuid> = ids.iter().copied().collect();
    let found = brand::Entity::find()
        .filter(brand::Column::AgencyId.eq(actor.agency_id))
        .filter(brand::Column::Id.is_in(unique.iter().copied()))
        .all(db)
        .await?;
    if found.len() != unique.len() {
        return Err(Error::NotFound("brand"));
    }
    let mut out: Vec<Uuid> = unique.into_iter().collect();
    out.sort();
    Ok(UuidList(out))
}

/// Adds an endpoint with a new secret (owners and admins).
pub async fn create(services: &Services, actor: &Actor, input: NewEndpoint) -> Result<webhook_endpoint::Model> {
    actor.require_manager()?;
    let url = check_url(services, &input.url).await?;
    let existing = scoped(actor).all(&services.db).await?;
    if existing.len() >= MAX_ENDPOINTS {
        return Err(Error::bad_input("url", format!("an agency has at most {MAX_ENDPOINTS} endpoints")));
    }
    let at = now();
    let model = webhook_endpoint::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        url: Set(url),
        description: Set(validate::optional_text("description", input.description.as_deref(), 500)?),
        event_types: Set(check_event_types(input.event_types)?),
        brand_ids: Set(check_brands(&services.db, actor, input.brand_ids).await?),
        enabled: Set(input.enabled),
        secret: Set(signature::new_secret()?),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        failing_since: Set(None),
        disabled_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    };
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let endpoint = model.insert(&txn).await?;
    audit::record(
        &txn,
        actor,
        "webhook.created",
        "webhook_endpoint",
        Some(endpoint.id),
        serde_json::json!({ "url": endpoint.url }),
    )
    .await?;
    txn.commit().await?;
    Ok(endpoint)
}

/// Edits an endpoint; enabling it again forgets its failures.
pub async fn update(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<webhook_endpoint::Model> {
    let existing = get(&services.db, actor, id).await?;
    let mut model: webhook_endpoint::ActiveModel = existing.into();
    if let Some(url) = patch.url {
        model.url = Set(check_url(services, &url).await?);
    }
    if let Some(description) = patch.description {
        model.description = Set(validate::optional_text("description", description.as_deref(), 500)?);
    }
    if let Some(types) = patch.event_types {
        model.event_types = Set(check_event_types(types)?);
    }
    if let Some(ids) = patch.brand_ids {
        model.brand_ids = Set(check_brands(&services.db, actor, ids).await?);
    }
    if let Some(enabled) = patch.enabled {
        model.enabled = Set(enabled);
        if enabled {
            model.failing_since = Set(None);
            model.disabled_at = Set(None);
        }
    }
    model.updated_at = Set(now());
    Ok(model.update(&services.db).await?)
}

/// Deletes an endpoint and its delivery log.
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = get(&services.db, actor, id).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    webhook_endpoint::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(
        &txn,
        actor,
        "webhook.deleted",
        "webhook_endpoint",
        Some(id),
        serde_json::json!({ "url": existing.url }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces the secret; the old one keeps signing for [`ROTATION_GRACE`].
pub async fn rotate_secret(services: &Services, actor: &Actor, id: Uuid) -> Result<webhook_endpoint::Model> {
    let existing = get(&services.db, actor, id).await?;
    let at = now();
    let mut model: webhook_endpoint::ActiveModel = existing.clone().into();
    model.previous_secret = Set(Some(existing.secret));
    model.previous_secret_expires_at = Set(Some(at + ROTATION_GRACE));
    model.secret = Set(signature::new_secret()?);
    model.updated_at = Set(at);
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let endpoint = model.update(&txn).await?;
    audit::record(&txn, actor, "webhook.secret_rotated", "webhook_endpoint", Some(id), serde_json::json!({})).await?;
    txn.commit().await?;
    Ok(endpoint)
}

/// Sends a `webhook.test` event to one endpoint (even a disabled one, to check it
/// before enabling it); returns its delivery.
pub async fn send_test_event(services: &Services, actor: &Actor, id: Uuid) -> Result<webhook_delivery::Model> {
    let endpoint = get(&services.db, actor, id).await?;
    let at = now();
    let payload = serde_json::json!({ "endpointId": endpoint.id, "message": "A test event sent from Vigie." });
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let mut event = events::row(actor.agency_id, None, events::WEBHOOK_TEST, payload, at);
    // Not fanned out: it is for this endpoint only.
    event.dispatched_at = Set(Some(at));
    let event = event.insert(&txn).await?;
    let delivery = delivery::new_row(&endpoint, &event).insert(&txn).await?;
    txn.commit().await?;
    delivery::deliver_soon(services, &delivery).await;
    Ok(delivery)
}

/// Filters of [`deliveries`].
#[derive(Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    services: &Services,
    actor: &Actor,
    endpoint_id: Uuid,
    filter: DeliveryFilter,
    page: PageRequest,
) -> Result<Page<webhook_delivery::Model>> {
    let endpoint = get(&services.db, actor, endpoint_id).await?;
    let mut select = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::AgencyId.eq(actor.agency_id))
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint.id));
    if let Some(status) = filter.status {
        select = select.filter(webhook_delivery::Column::Status.eq(status.as_str()));
    }
    crate::platform::pagination::fetch(
        &services.db,
        select,
        webhook_delivery::Column::Id,
        crate::platform::pagination::Direction::Descending,
        page,
    )
    .await
}

/// The attempts of those of several deliveries the actor sees (owners and admins),
/// oldest first.
pub async fn attempts(
    db: &impl ConnectionTrait,
    actor: &Actor,
    delivery_ids: &[Uuid],
) -> Result<Vec<webhook_attempt::Model>> {
    actor.require_manager()?;
    let (id, agency) = (webhook_delivery::Column::Id, webhook_delivery::Column::AgencyId);
    let delivery_ids = actor.visible_ids::<webhook_delivery::Entity>(db, delivery_ids, id, agency, None).await?;
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(delivery_ids))
        .order_by_asc(webhook_attempt::Column::AttemptedAt)
        .order_by_asc(webhook_attempt::Column::Id)
        .all(db)
        .await?)
}

/// The types of those of several events of the actor's agency, by event id (for
/// display).
pub async fn event_types(db: &impl ConnectionTrait, actor: &Actor, event_ids: &[Uuid]) -> Result<Vec<(Uuid, String)>> {
    use sea_orm::QuerySelect;
    actor.require_manager()?;
    Ok(event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .column(event::Column::Kind)
        .filter(event::Column::Id.is_in(event_ids.iter().copied()))
        .filter(event::Column::AgencyId.eq(actor.agency_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// Sends a delivery again (same `webhook-id` and body) with a fresh retry schedule.
pub async fn replay(services: &Services, actor: &Actor, delivery_id: Uuid) -> Result<webhook_delivery::Model> {
    actor.require_manager()?;
    let existing = webhook_delivery::Entity::find_by_id(delivery_id)
        .filter(webhook_delivery::Column::AgencyId.eq(actor.agency_id))
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("webhook delivery"))?;
    let status = DeliveryStatus::parse(&existing.status);
    if matches!(status, DeliveryStatus::Pending | DeliveryStatus::Sending) {
        return Err(Error::bad_input("id", "the delivery is still being attempted"));
    }
    let mut model: webhook_delivery::ActiveModel = existing.into();
    model.status = Set(DeliveryStatus::Pending.as_str().into());
    model.attempts = Set(0);
    model.next_attempt_at = Set(Some(now()));
    model.updated_at = Set(now());
    let delivery = model.update(&services.db).await?;
    delivery::deliver_soon(services, &delivery).await;
    Ok(delivery)
}
