//! Fan-out of outbox events to endpoints, and the sending of each delivery.

use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;
use uuid::Uuid;

use super::{DeliveryStatus, signature};
use crate::entities::{event, membership, user_account, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::platform::db::batches;
use crate::platform::events::DispatchEvents;
use crate::platform::jobs::{JobError, Registry};
use crate::platform::mail::Email;
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Config, platform::i18n};
use crate::{Result, Services, new_id, now, platform::mail};
use minijinja::context;

/// Events fanned out per transaction.
const BATCH: u64 = 200;
/// Bytes of a receiver's answer kept in the log.
const EXCERPT: usize = 1_000;
/// How often undispatched events and overdue deliveries are looked for when nothing
/// asks sooner.
const SWEEP: Duration = Duration::from_secs(5);
/// A delivery due this long ago and still pending lost its job: the sweep re-enqueues it.
const OVERDUE: chrono::Duration = chrono::Duration::seconds(10);

/// Makes one attempt of one delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: Uuid,
}

impl JobPayload for DeliverWebhook {
    const KIND: &'static str = "webhooks.deliver";
}

/// Registers the fan-out and delivery jobs and the sweep.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: DispatchEvents| async move {
        dispatch(&services).await?;
        requeue_overdue(&services).await?;
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, job: DeliverWebhook| async move {
        attempt(&services, job.delivery_id).await.map_err(JobError::from)?;
        Ok(())
    });
    registry.schedule("events.sweep", SWEEP, |_slot| Envelope::new(None, &DispatchEvents {}));
}

/// The body every attempt of a delivery sends.
fn body(event: &event::Model) -> String {
    serde_json::json!({ "type": event.kind, "timestamp": event.created_at, "data": event.payload }).to_string()
}

/// The `webhook-id` of an event: the same on every retry and replay, so receivers can
/// deduplicate.
pub fn message_id(event_id: Uuid) -> String {
    format!("msg_{}", event_id.simple())
}

/// A new pending delivery of an event to an endpoint.
pub(crate) fn new_row(endpoint: &webhook_endpoint::Model, event: &event::Model) -> webhook_delivery::ActiveModel {
    let at = now();
    webhook_delivery::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(endpoint.agency_id),
        endpoint_id: Set(endpoint.id),
        event_id: Set(event.id),
        status: Set(DeliveryStatus::Pending.as_str().into()),
        attempts: Set(0),
        next_attempt_at: Set(Some(at)),
        last_status_code: Set(None),
        last_latency_ms: Set(None),
        last_response_excerpt: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        payload: Set(body(event)),
    }
}

fn wants(endpoint: &webhook_endpoint::Model, event: &event::Model) -> bool {
    endpoint.agency_id == event.agency_id
        && endpoint.enabled
        && (endpoint.event_types.0.is_empty() || endpoint.event_types.0.contains(&event.kind))
        && (endpoint.brand_ids.0.is_empty() || event.brand_id.is_some_and(|b| endpoint.brand_ids.0.contains(&b)))
}

/// Asks for a delivery to be attempted now; the sweep catches it if asking fails.
pub(crate) async fn deliver_soon(services: &Services, delivery: &webhook_delivery::Model) {
    schedule(services, delivery.agency_id, delivery.id, None).await;
}

/// Asks for an attempt of a delivery, now or `at`; the sweep catches it if asking
/// fails. A simulated history makes its attempts itself ([`due`]).
async fn schedule(services: &Services, agency_id: Uuid, delivery_id: Uuid, at: Option<DateTime<Utc>>) {
    if crate::simulating() {
        return;
    }
    let asked = async {
        let job = Envelope::new(Some(agency_id), &DeliverWebhook { delivery_id })?;
        match at {
            Some(at) => services.queue.enqueue_at(&job, at).await,
            None => services.queue.enqueue(&job).await,
        }
    };
    if let Err(error) = asked.await {
        tracing::warn!(error = %error.chain(), %delivery_id, "cannot schedule a webhook attempt; the sweep will");
    }
}

/// Turns undispatched events into deliveries; returns how many events it handled.
pub(crate) async fn dispatch(services: &Services) -> Result<usize> {
    dispatch_in(services, None).await
}

/// [`dispatch`], for one agency's events only when given.
pub(crate) async fn dispatch_in(services: &Services, agency: Option<Uuid>) -> Result<usize> {
    let mut handled = 0;
    loop {
        let txn = crate::platform::db::begin_write(&services.db).await?;
        let mut select = event::Entity::find()
            .filter(event::Column::DispatchedAt.is_null())
            .apply_if(agency, |q, agency| q.filter(event::Column::AgencyId.eq(agency)))
            .order_by_asc(event::Column::CreatedAt)
            .limit(BATCH);
        if txn.get_database_backend() == DatabaseBackend::Postgres {
            select = select.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let batch = select.all(&txn).await?;
        if batch.is_empty() {
            break;
        }
        let agencies: HashSet<Uuid> = batch.iter().map(|e| e.agency_id).collect();
        let endpoints = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::AgencyId.is_in(agencies))
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .all(&txn)
            .await?;
        let rows: Vec<webhook_delivery::ActiveModel> =
            batch.iter().flat_map(|e| endpoints.iter().filter(|ep| wants(ep, e)).map(|ep| new_row(ep, e))).collect();
        let jobs: Vec<(Uuid, Uuid)> =
            rows.iter().map(|r| (r.id.clone().unwrap(), r.agency_id.clone().unwrap())).collect();
        for chunk in batches(rows, 256) {
            webhook_delivery::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::columns([webhook_delivery::Column::EndpointId, webhook_delivery::Column::EventId])
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        // Members' own notifications come from the same events, in the same transaction.
        let notify = crate::notifications::fan_out(&txn, &batch).await?;
        let full = batch.len() as u64 == BATCH;
        event::Entity::update_many()
            .col_expr(event::Column::DispatchedAt, Expr::value(now()))
            .filter(event::Column::Id.is_in(batch.iter().map(|e| e.id)))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        handled += batch.len();
        for (delivery_id, agency_id) in jobs {
            schedule(services, agency_id, delivery_id, None).await;
        }
        crate::notifications::send_soon(services, &notify).await;
        if !full {
            break;
        }
    }
    if handled > 0 {
        tracing::debug!(events = handled, "events dispatched");
    }
    Ok(handled)
}

/// Re-enqueues deliveries whose attempt is overdue (their job was lost, or the worker
/// holding the claim died).
async fn requeue_overdue(services: &Services) -> Result<usize> {
    let overdue = due(services, now() - OVERDUE, None).await?;
    for (delivery_id, agency_id) in &overdue {
        crate::platform::jobs::enqueue(services, Some(*agency_id), &DeliverWebhook { delivery_id: *delivery_id })
            .await?;
    }
    Ok(overdue.len())
}

/// When the next attempt to `endpoint` is due, if one waits.
pub(crate) async fn next_attempt(services: &Services, endpoint: Uuid) -> Result<Option<DateTime<Utc>>> {
    let next: Option<Option<DateTime<Utc>>> = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::NextAttemptAt)
        .filter(webhook_delivery::Column::EndpointId.eq(endpoint))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .into_tuple()
        .one(&services.db)
        .await?;
    Ok(next.flatten())
}

/// Deliveries (with their agency) still to attempt whose attempt was due by `by`, to
/// one endpoint only when given; at most 500.
pub(crate) async fn due(services: &Services, by: DateTime<Utc>, endpoint: Option<Uuid>) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .column(webhook_delivery::Column::AgencyId)
        .filter(
            webhook_delivery::Column::Status
                .is_in([DeliveryStatus::Pending.as_str(), DeliveryStatus::Sending.as_str()]),
        )
        .filter(webhook_delivery::Column::NextAttemptAt.lte(by))
        .apply_if(endpoint, |q, endpoint| q.filter(webhook_delivery::Column::EndpointId.eq(endpoint)))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(500)
        .into_tuple::<(Uuid, Uuid)>()
        .all(&services.db)
        .await?)
}

/// What one HTTP attempt gave.
struct Outcome {
    status: Option<u16>,
    latency_ms: i32,
    excerpt: Option<String>,
    error: Option<String>,
}

impl Outcome {
    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Claims a due delivery and makes one attempt; does nothing if it is not due or
/// someone else holds it.
pub(crate) async fn attempt(services: &Services, delivery_id: Uuid) -> Result<()> {
    let db = &services.db;
    let at = now();
    let lease = chrono::Duration::from_std(services.config.webhook_timeout + Duration::from_secs(30))
        .unwrap_or(chrono::Duration::minutes(1));
    let claimed = webhook_delivery::Entity::update_many()
        .col_expr(webhook_delivery::Column::Status, Expr::value(DeliveryStatus::Sending.as_str()))
        .col_expr(webhook_delivery::Column::NextAttemptAt, Expr::value(at + lease))
        .col_expr(webhook_delivery::Column::UpdatedAt, Expr::value(at))
        .filter(webhook_delivery::Column::Id.eq(delivery_id))
        .filter(
            webhook_delivery::Column::Status
                .is_in([DeliveryStatus::Pending.as_str(), DeliveryStatus::Sending.as_str()]),
        )
        .filter(webhook_delivery::Column::NextAttemptAt.lte(at))
        .exec(db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(());
    }
    let Some(delivery) = webhook_delivery::Entity::find_by_id(delivery_id).one(db).await? else { return Ok(()) };
    let Some(endpoint) = webhook_endpoint::Entity::find_by_id(delivery.endpoint_id).one(db).await? else {
        return Ok(());
    };
    let event = event::Entity::find_by_id(delivery.event_id).one(db).await?;
    let test = event.as_ref().is_some_and(|e| e.kind == crate::platform::events::WEBHOOK_TEST);
    if !endpoint.enabled && !test {
        let mut model: webhook_delivery::ActiveModel = delivery.into();
        model.status = Set(DeliveryStatus::Failed.as_str().into());
        model.next_attempt_at = Set(None);
        model.last_error = Set(Some("the endpoint is disabled".into()));
        model.updated_at = Set(now());
        model.update(db).await?;
        return Ok(());
    }

    // The delivery joins the trace of the work that recorded its event, wherever that ran.
    let span =
        tracing::info_span!("webhook", otel.name = "webhook.deliver", otel.kind = "client", delivery = %delivery.id);
    crate::platform::telemetry::continue_trace(&span, event.as_ref().and_then(|e| e.trace_parent.as_deref()));
    let outcome = send(services, &endpoint, &delivery).instrument(span).await?;
    record(services, endpoint, delivery, outcome).await
}

async fn send(
    services: &Services,
    endpoint: &webhook_endpoint::Model,
    delivery: &webhook_delivery::Model,
) -> Result<Outcome> {
    let msg_id = message_id(delivery.event_id);
    let timestamp = Utc::now().timestamp();
    let body = delivery.payload.as_bytes();
    let signatures = super::signing_secrets(endpoint, now())
        .map(|secret| signature::sign(secret, &msg_id, timestamp, body))
        .collect::<Result<Vec<_>>>()?;
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).map_err(|e| crate::Error::internal_from("a webhook header", e));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(HeaderName::from_static("webhook-id"), header(&msg_id)?);
    headers.insert(HeaderName::from_static("webhook-timestamp"), header(&timestamp.to_string())?);
    headers.insert(HeaderName::from_static("webhook-signature"), header(&signatures.join(" "))?);
    if let Some(traceparent) = crate::platform::telemetry::traceparent() {
        headers.insert(HeaderName::from_static(crate::platform::telemetry::TRACEPARENT), header(&traceparent)?);
    }

    let started = Instant::now();
    let result =
        services.http.post(&endpoint.url, headers, body.to_vec(), services.config.webhook_timeout, EXCERPT).await;
    let latency_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    Ok(match result {
        Ok(response) => Outcome {
            status: Some(response.status),
            latency_ms,
            excerpt: Some(String::from_utf8_lossy(&response.body).into_owned()),
            error: None,
        },
        Err(error) => Outcome { status: None, latency_ms, excerpt: None, error: Some(error.to_string()) },
    })
}

/// Logs the attempt and moves the delivery on: delivered, retried later, or failed.
async fn record(
    services: &Services,
    endpoint: webhook_endpoint::Model,
    delivery: webhook_delivery::Model,
    outcome: Outcome,
) -> Result<()> {
    let at = now();
    let attempts = delivery.attempts + 1;
    let succeeded = outcome.succeeded();
    let error = match (&outcome.error, outcome.status) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(status)) if !succeeded => Some(format!("the receiver answered {status}")),
        _ => None,
    };
    let retry_in = (!succeeded).then(|| services.config.webhook_retries.get(attempts as usize - 1).copied()).flatten();
    let next_attempt_at: Option<DateTime<Utc>> =
        retry_in.map(|d| at + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero()));

    let txn = crate::platform::db::begin_write(&services.db).await?;
    webhook_attempt::ActiveModel {
        id: Set(new_id()),
        delivery_id: Set(delivery.id),
        attempted_at: Set(at),
        status_code: Set(outcome.status.map(i32::from)),
        latency_ms: Set(outcome.latency_ms),
        response_excerpt: Set(outcome.excerpt.clone()),
        error: Set(error.clone()),
    }
    .insert(&txn)
    .await?;
    let agency_id = delivery.agency_id;
    let mut model: webhook_delivery::ActiveModel = delivery.clone().into();
    model.attempts = Set(attempts);
    model.last_status_code = Set(outcome.status.map(i32::from));
    model.last_latency_ms = Set(Some(outcome.latency_ms));
    model.last_response_excerpt = Set(outcome.excerpt);
    model.last_error = Set(error.clone());
    model.updated_at = Set(at);
    let status = if succeeded {
        model.delivered_at = Set(Some(at));
        DeliveryStatus::Delivered
    } else if next_attempt_at.is_some() {
        DeliveryStatus::Pending
    } else {
        DeliveryStatus::Failed
    };
    model.status = Set(status.as_str().into());
    model.next_attempt_at = Set(if status == DeliveryStatus::Pending { next_attempt_at } else { None });
    let delivery = model.update(&txn).await?;

    let mut disabled = false;
    let mut ep: webhook_endpoint::ActiveModel = endpoint.clone().into();
    if succeeded {
        if endpoint.failing_since.is_some() {
            ep.failing_since = Set(None);
            ep.update(&txn).await?;
        }
    } else {
        let since = endpoint.failing_since.unwrap_or(at);
        let limit =
            chrono::Duration::from_std(services.config.webhook_disable_after).unwrap_or(chrono::Duration::days(5));
        ep.failing_since = Set(Some(since));
        if endpoint.enabled && at - since >= limit {
            ep.enabled = Set(false);
            ep.disabled_at = Set(Some(at));
            disabled = true;
            email_managers(&txn, &services.config, &endpoint, since, error.as_deref().unwrap_or("")).await?;
        }
        ep.updated_at = Set(at);
        ep.update(&txn).await?;
    }
    txn.commit().await?;

    services.job_metrics.webhook_attempt(match status {
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Pending => "retrying",
        _ => "failed",
    });
    match status {
        DeliveryStatus::Delivered => {
            tracing::info!(delivery_id = %delivery.id, attempts, status = ?outcome.status, "webhook delivered")
        }
        DeliveryStatus::Pending => {
            tracing::warn!(delivery_id = %delivery.id, attempts, error = ?error, next = ?next_attempt_at, "webhook attempt failed; will retry");
            if let Some(when) = next_attempt_at {
                schedule(services, agency_id, delivery.id, Some(when)).await;
            }
        }
        _ => tracing::warn!(delivery_id = %delivery.id, attempts, error = ?error, "webhook delivery failed for good"),
    }
    if disabled {
        tracing::warn!(endpoint_id = %endpoint.id, "webhook endpoint disabled after failing for days");
        mail::send_soon(services, Some(agency_id)).await;
    }
    Ok(())
}

/// Tells the agency's owners and admins that an endpoint was disabled.
async fn email_managers(
    db: &impl ConnectionTrait,
    config: &crate::Config,
    endpoint: &webhook_endpoint::Model,
    since: DateTime<Utc>,
    last_error: &str,
) -> Result<()> {
    let users: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::AgencyId.eq(endpoint.agency_id))
        .filter(membership::Column::Role.is_in(["owner", "admin"]))
        .into_tuple()
        .all(db)
        .await?;
    let recipients = user_account::Entity::find().filter(user_account::Column::Id.is_in(users)).all(db).await?;
    let email = disabled_email(config, &endpoint.url, since, last_error)?;
    for user in recipients {
        mail::enqueue(db, Some(endpoint.agency_id), &user.email, email.clone()).await?;
    }
    Ok(())
}

/// A webhook endpoint was disabled after failing for days, to the agency's managers.
fn disabled_email(config: &Config, url: &str, since: DateTime<Utc>, last_error: &str) -> Result<Email> {
    let lang = i18n::DEFAULT;
    mail::compose(
        "webhook_disabled",
        i18n::text(lang, "email.webhook_disabled.subject", context! { url }),
        context! {
            lang, url, last_error,
            since => since.format("%Y-%m-%d %H:%M UTC").to_string(),
            link => config.public_link("graphql"),
        },
    )
}
