//! The caller's own notification preferences.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::notification_preference;
use vigie_domain::notifications::{self, PreferencesInput};

use super::node::{NodeKind, global_id};
use super::pagination::uuid;
use super::{actor, services};

/// What the caller hears of, and where. Webhook URLs are never shown again: they are
/// credentials.
pub struct NotificationPreferences(notification_preference::Model);

#[Object]
impl NotificationPreferences {
    /// Event types, as webhooks name them (`crisis.opened`, `mobilisation.opened`,
    /// `sla.breached`…).
    async fn event_types(&self) -> &[String] {
        &self.0.event_types.0
    }
    /// The brands to hear of; empty: every brand the caller sees.
    async fn brand_ids(&self) -> Vec<ID> {
        self.0.brand_ids.0.iter().map(|id| global_id(NodeKind::Brand, *id)).collect()
    }
    async fn email(&self) -> bool {
        self.0.email
    }
    /// Whether a Slack incoming webhook is set.
    async fn slack(&self) -> bool {
        self.0.slack_url.is_some()
    }
    /// Whether a Teams incoming webhook (or Power Automate workflow) is set.
    async fn teams(&self) -> bool {
        self.0.teams_url.is_some()
    }
    /// Quiet hours, local `HH:MM` in `timeZone`; what falls in them waits for their end.
    async fn quiet_from(&self) -> Option<String> {
        self.0.quiet_from.map(notifications::clock)
    }
    async fn quiet_to(&self) -> Option<String> {
        self.0.quiet_to.map(notifications::clock)
    }
    /// IANA time zone of the quiet hours.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// The caller's notification preferences, replacing the previous ones.
#[derive(InputObject)]
pub struct NotificationPreferencesInput {
    event_types: Vec<String>,
    /// Empty: every brand the caller sees (now and later).
    #[graphql(default)]
    brand_ids: Vec<ID>,
    #[graphql(default)]
    email: bool,
    /// `https://hooks.slack.com/…`; omitted: unchanged; null: removed.
    slack_url: MaybeUndefined<String>,
    /// A Teams incoming webhook (`https://….webhook.office.com/…`) or Power Automate
    /// workflow URL; omitted: unchanged; null: removed.
    teams_url: MaybeUndefined<String>,
    /// Local `HH:MM`; both or neither.
    quiet_from: Option<String>,
    quiet_to: Option<String>,
    /// IANA time zone, e.g. `Europe/Paris`.
    time_zone: String,
}

fn url(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(url) => Some(Some(url)),
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// The caller's notification preferences; null until it sets some.
    async fn notification_preferences(&self, ctx: &Context<'_>) -> Result<Option<NotificationPreferences>> {
        Ok(notifications::preferences(services(ctx), actor(ctx)?).await?.map(NotificationPreferences))
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Sets which events the caller hears of, for which brands, by email, on Slack or
    /// Teams, and its quiet hours.
    async fn set_notification_preferences(
        &self,
        ctx: &Context<'_>,
        input: NotificationPreferencesInput,
    ) -> Result<NotificationPreferences> {
        let brand_ids = input.brand_ids.iter().map(|id| uuid("brandIds", id)).collect::<std::result::Result<_, _>>()?;
        let input = PreferencesInput {
            event_types: input.event_types,
            brand_ids,
            email: input.email,
            slack_url: url(input.slack_url),
            teams_url: url(input.teams_url),
            quiet_from: input.quiet_from,
            quiet_to: input.quiet_to,
            time_zone: input.time_zone,
        };
        Ok(NotificationPreferences(notifications::set_preferences(services(ctx), actor(ctx)?, input).await?))
    }
}
