//! Webhook endpoints of the agency, their delivery log, replay and test events (owners
//! and admins).

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use vigie_domain::webhooks::{self, DeliveryFilter, EndpointPatch, NewEndpoint};

use super::brands::DeletePayload;
use super::loaders::{AttemptsOfDelivery, EventKind};
use super::pagination::{self, Cursor, uuid};
use super::{actor, loader, services};

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "vigie_domain::webhooks::DeliveryStatus")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is in flight.
    Sending,
    Delivered,
    /// Every attempt failed (or the endpoint is disabled): `replayDelivery` sends it again.
    Failed,
}

/// A URL that receives the agency's events.
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::WebhookEndpoint, self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Event types delivered; empty: all.
    async fn event_types(&self) -> &[String] {
        &self.0.event_types.0
    }
    /// Brands whose events are delivered; empty: all.
    async fn brand_ids(&self) -> Vec<ID> {
        self.0.brand_ids.0.iter().map(|id| global_id(NodeKind::Brand, *id)).collect()
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// The signing secret (`whsec_…`): verify `webhook-signature` with it.
    async fn secret(&self) -> &str {
        &self.0.secret
    }
    /// Until when the secret before the last rotation still signs too.
    async fn previous_secret_expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.previous_secret_expires_at
    }
    /// Since when every attempt has failed (null when the last one succeeded).
    async fn failing_since(&self) -> Option<DateTime<Utc>> {
        self.0.failing_since
    }
    /// When Vigie disabled it after failing for days.
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.0.disabled_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// One HTTP attempt of a delivery.
pub struct WebhookAttempt(webhook_attempt::Model);

#[Object]
impl WebhookAttempt {
    async fn attempted_at(&self) -> DateTime<Utc> {
        self.0.attempted_at
    }
    /// Null when no answer came (timeout, refused connection).
    async fn status_code(&self) -> Option<i32> {
        self.0.status_code
    }
    async fn latency_ms(&self) -> i32 {
        self.0.latency_ms
    }
    /// The first kilobyte of the answer.
    async fn response_excerpt(&self) -> Option<&str> {
        self.0.response_excerpt.as_deref()
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

/// One event sent to one endpoint.
pub struct WebhookDelivery(pub webhook_delivery::Model);

#[Object]
impl WebhookDelivery {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::WebhookDelivery, self.0.id)
    }
    async fn endpoint_id(&self) -> ID {
        global_id(NodeKind::WebhookEndpoint, self.0.endpoint_id)
    }
    /// The `webhook-id` header: the same on every retry and replay.
    async fn message_id(&self) -> String {
        webhooks::delivery::message_id(self.0.event_id)
    }
    async fn event_type(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        Ok(loader(ctx).load_one(EventKind(self.0.event_id)).await?)
    }
    async fn status(&self) -> DeliveryStatus {
        webhooks::DeliveryStatus::parse(&self.0.status).into()
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }
    async fn last_status_code(&self) -> Option<i32> {
        self.0.last_status_code
    }
    async fn last_latency_ms(&self) -> Option<i32> {
        self.0.last_latency_ms
    }
    async fn last_response_excerpt(&self) -> Option<&str> {
        self.0.last_response_excerpt.as_deref()
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// The JSON body sent: `{type, timestamp, data}`.
    async fn payload(&self) -> &str {
        &self.0.payload
    }
    /// Every attempt, oldest first.
    async fn attempt_log(&self, ctx: &Context<'_>) -> Result<Vec<WebhookAttempt>> {
        let rows = loader(ctx).load_one(AttemptsOfDelivery(self.0.id)).await?.unwrap_or_default();
        Ok(rows.into_iter().map(WebhookAttempt).collect())
    }
}

/// A new endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// http(s); must resolve to public addresses.
    url: String,
    description: Option<String>,
    /// Event types to deliver (see the README); empty or omitted: all.
    #[graphql(default)]
    event_types: Vec<String>,
    /// Brands whose events to deliver; empty or omitted: all.
    #[graphql(default)]
    brand_ids: Vec<ID>,
    #[graphql(default = true)]
    enabled: bool,
}

/// Changes to an endpoint; omitted fields are unchanged.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    id: ID,
    url: Option<String>,
    /// Null clears it.
    description: MaybeUndefined<String>,
    event_types: Option<Vec<String>>,
    brand_ids: Option<Vec<ID>>,
    /// Enabling an endpoint again forgets its failures.
    enabled: Option<bool>,
}

fn ids(field: &str, raw: Vec<ID>) -> Result<Vec<uuid::Uuid>> {
    Ok(raw.iter().map(|id| uuid(field, id)).collect::<vigie_domain::Result<_>>()?)
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The agency's webhook endpoints (owners and admins).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        Ok(webhooks::list(services(ctx), actor(ctx)?).await?.into_iter().map(WebhookEndpoint).collect())
    }

    /// An endpoint's deliveries, newest first (owners and admins).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        status: Option<DeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, WebhookDelivery>> {
        let had_cursor = after.is_some();
        let page = webhooks::deliveries(
            services(ctx),
            actor(ctx)?,
            uuid("endpointId", &endpoint_id)?,
            DeliveryFilter { status: status.map(Into::into) },
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |d| Cursor(d.id), WebhookDelivery))
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Adds an endpoint with a new secret (owners and admins).
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> Result<WebhookEndpoint> {
        let endpoint = webhooks::create(
            services(ctx),
            actor(ctx)?,
            NewEndpoint {
                url: input.url,
                description: input.description,
                event_types: input.event_types,
                brand_ids: ids("brandIds", input.brand_ids)?,
                enabled: input.enabled,
            },
        )
        .await?;
        Ok(WebhookEndpoint(endpoint))
    }

    /// Edits an endpoint (owners and admins).
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> Result<WebhookEndpoint> {
        let patch = EndpointPatch {
            url: input.url,
            description: input.description.into(),
            event_types: input.event_types,
            brand_ids: input.brand_ids.map(|list| ids("brandIds", list)).transpose()?,
            enabled: input.enabled,
        };
        Ok(WebhookEndpoint(webhooks::update(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    /// Deletes an endpoint and its delivery log (owners and admins).
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        webhooks::delete(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }

    /// Replaces the secret; the previous one keeps signing for 24 hours.
    async fn rotate_webhook_secret(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        Ok(WebhookEndpoint(webhooks::rotate_secret(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }

    /// Sends a `webhook.test` event to the endpoint.
    async fn send_test_event(&self, ctx: &Context<'_>, endpoint_id: ID) -> Result<WebhookDelivery> {
        let delivery = webhooks::send_test_event(services(ctx), actor(ctx)?, uuid("endpointId", &endpoint_id)?).await?;
        Ok(WebhookDelivery(delivery))
    }

    /// Sends a delivered or failed delivery again (same `webhook-id` and body).
    async fn replay_delivery(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookDelivery> {
        Ok(WebhookDelivery(webhooks::replay(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }
}
