//! Per-member notifications: each member chooses which events it hears of (alerts,
//! tickets, discoveries…), for which of its brands, by email and on Slack or Teams
//! (incoming webhooks), with quiet hours in its own time zone. Dispatching events (the
//! `events.dispatch` job, as webhooks do) makes one notification per member, event and
//! channel; what falls in quiet hours waits for their end. Slack and Teams messages are
//! sent by `notifications.deliver` with retries; emails go through the outbox.
//!
//! A member only hears of brands it sees now (a member unassigned from a brand stops
//! hearing of it), and of tickets and solicitations only as agency staff.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

use crate::entities::{
    StringList, UuidList, brand, event, membership, notification, notification_preference, user_account,
};
use crate::platform::jobs::Registry;
use crate::platform::mail::{self, Email};
use crate::platform::queue::{Envelope, JobPayload};
use crate::platform::{events, validate};
use crate::{Actor, Error, Result, Services, System, new_id, now};

/// Chat channels, beside email.
pub const SLACK: &str = "slack";
pub const TEAMS: &str = "teams";
pub const EMAIL: &str = "email";

/// Attempts before a chat notification is given up; waits between them.
const BACKOFF: [i64; 4] = [1, 5, 15, 60];
/// How long a delivery owns a notification it is sending.
const LEASE: Duration = Duration::minutes(2);
/// How often due notifications (quiet hours over, retries) are looked for.
const SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// What a member asks for; `None` URLs leave the stored ones, `Some(None)` clears.
pub struct PreferencesInput {
    pub event_types: Vec<String>,
    pub brand_ids: Vec<Uuid>,
    pub email: bool,
    pub slack_url: Option<Option<String>>,
    pub teams_url: Option<Option<String>>,
    /// Local `HH:MM`, both or neither.
    pub quiet_from: Option<String>,
    pub quiet_to: Option<String>,
    pub time_zone: String,
}

/// The caller's preferences, if it set some.
pub async fn preferences(services: &Services, actor: &Actor) -> Result<Option<notification_preference::Model>> {
    Ok(notification_preference::Entity::find()
        .filter(notification_preference::Column::AgencyId.eq(actor.agency_id))
        .filter(notification_preference::Column::MembershipId.eq(actor.membership_id))
        .one(&services.db)
        .await?)
}

/// Sets the caller's preferences (every member, client viewers included: they hear of
/// their brand's alerts).
pub async fn set_preferences(
    services: &Services,
    actor: &Actor,
    input: PreferencesInput,
) -> Result<notification_preference::Model> {
    let mut kinds: Vec<String> = Vec::new();
    for kind in input.event_types {
        let kind = kind.trim().to_owned();
        if !events::TYPES.contains(&kind.as_str()) {
            return Err(Error::bad_input("eventTypes", format!("unknown event type `{kind}`")));
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let mut brands = Vec::new();
    for id in input.brand_ids {
        brands.push(actor.check_brand(&services.db, id).await?);
    }
    brands.sort_unstable();
    brands.dedup();
    let time_zone = validate::time_zone("timeZone", &input.time_zone)?;
    let (quiet_from, quiet_to) = match (input.quiet_from.as_deref(), input.quiet_to.as_deref()) {
        (None, None) => (None, None),
        (Some(from), Some(to)) => (Some(minutes("quietFrom", from)?), Some(minutes("quietTo", to)?)),
        _ => return Err(Error::bad_input("quietTo", "quiet hours need a start and an end")),
    };
    let existing = preferences(services, actor).await?;
    let id = existing.as_ref().map_or_else(new_id, |p| p.id);
    let sealed = |channel: &str, raw: Option<Option<String>>, stored: Option<String>| -> Result<Option<String>> {
        match raw {
            None => Ok(stored),
            Some(None) => Ok(None),
            Some(Some(url)) => {
                let url = chat_url(services, channel, &url)?;
                let bound = bound_to(actor.membership_id, actor.agency_id, channel);
                Ok(Some(
                    services
                        .config
                        .vault
                        .seal(&bound, url.as_bytes())
                        .map_err(|e| Error::internal_from("sealing a webhook URL", e))?,
                ))
            }
        }
    };
    let stored = existing.clone();
    let slack_url = sealed(SLACK, input.slack_url, stored.as_ref().and_then(|p| p.slack_url.clone()))?;
    let teams_url = sealed(TEAMS, input.teams_url, stored.as_ref().and_then(|p| p.teams_url.clone()))?;
    for (channel, url) in [(SLACK, &slack_url), (TEAMS, &teams_url)] {
        if let Some(url) = url {
            let plain = open_url(services, actor.membership_id, actor.agency_id, channel, url)?;
            services
                .http
                .check_public(&plain)
                .await
                .map_err(|e| Error::bad_input(channel_field(channel), e.to_string()))?;
        }
    }
    let at = now();
    let model = notification_preference::ActiveModel {
        id: Set(id),
        agency_id: Set(actor.agency_id),
        membership_id: Set(actor.membership_id),
        event_types: Set(StringList(kinds)),
        brand_ids: Set(UuidList(brands)),
        email: Set(input.email),
        slack_url: Set(slack_url),
        teams_url: Set(teams_url),
        quiet_from: Set(quiet_from),
        quiet_to: Set(quiet_to),
        time_zone: Set(time_zone),
        created_at: Set(existing.as_ref().map_or(at, |p| p.created_at)),
        updated_at: Set(at),
    };
    Ok(if existing.is_some() { model.update(&services.db).await? } else { model.insert(&services.db).await? })
}

fn channel_field(channel: &str) -> &'static str {
    if channel == SLACK { "slackUrl" } else { "teamsUrl" }
}

/// An incoming-webhook URL for `channel`: https on the network's own hosts (Slack's
/// `hooks.slack.com`; Teams' `*.webhook.office.com` connectors and Power Automate
/// workflows), any public http(s) address only where private webhooks are allowed
/// (tests and development).
fn chat_url(services: &Services, channel: &str, raw: &str) -> Result<String> {
    let field = channel_field(channel);
    let url = validate::name(field, raw, 2_000)?;
    let parsed = url::Url::parse(&url).map_err(|_| Error::bad_input(field, "not a URL"))?;
    if services.config.allow_private_webhooks && ["http", "https"].contains(&parsed.scheme()) {
        return Ok(url);
    }
    let host = parsed.host_str().unwrap_or_default();
    let allowed = match channel {
        SLACK => host == "hooks.slack.com",
        _ => {
            host.ends_with(".webhook.office.com")
                || host.ends_with(".logic.azure.com")
                || host.ends_with(".environment.api.powerplatform.com")
        }
    };
    if parsed.scheme() != "https" || !allowed {
        let expected = if channel == SLACK {
            "https://hooks.slack.com/…"
        } else {
            "https://….webhook.office.com/… or a Power Automate workflow URL"
        };
        return Err(Error::bad_input(field, format!("an incoming-webhook URL, {expected}")));
    }
    Ok(url)
}

/// A sealed URL is bound to its member, agency and channel.
fn bound_to(membership: Uuid, agency: Uuid, channel: &str) -> Vec<u8> {
    [b"vigie.notification.url:".as_slice(), membership.as_bytes(), agency.as_bytes(), channel.as_bytes()].concat()
}

fn open_url(services: &Services, membership: Uuid, agency: Uuid, channel: &str, sealed: &str) -> Result<String> {
    let plain = services
        .config
        .vault
        .open(&bound_to(membership, agency, channel), sealed)
        .map_err(|e| Error::internal_from("opening a webhook URL", e))?;
    String::from_utf8(plain).map_err(|e| Error::internal_from("a webhook URL", e))
}

/// `HH:MM` as minutes after midnight.
fn minutes(field: &str, raw: &str) -> Result<i16> {
    let time = NaiveTime::parse_from_str(raw.trim(), "%H:%M").map_err(|_| Error::bad_input(field, "HH:MM"))?;
    Ok((time.hour() * 60 + time.minute()) as i16)
}

/// `HH:MM` of minutes after midnight.
pub fn clock(minutes: i16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// When the quiet hours holding `at` end, if they hold it.
pub fn quiet_until(pref: &notification_preference::Model, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let (from, to) = (i64::from(pref.quiet_from?), i64::from(pref.quiet_to?));
    if from == to {
        return None;
    }
    let zone: Tz = pref.time_zone.parse().ok()?;
    let local = at.with_timezone(&zone);
    let now = i64::from(local.hour() * 60 + local.minute());
    let inside = if from < to { now >= from && now < to } else { now >= from || now < to };
    if !inside {
        return None;
    }
    let mut day = local.date_naive();
    if now >= to {
        day = day.succ_opt()?;
    }
    let end = day.and_time(NaiveTime::from_hms_opt((to / 60) as u32, (to % 60) as u32, 0)?);
    // A clock change may skip the end: the earliest instant on or after it.
    zone.from_local_datetime(&end)
        .earliest()
        .or_else(|| zone.from_local_datetime(&(end + Duration::hours(1))).earliest())
        .map(|t| t.with_timezone(&Utc))
}

/// Makes the notifications of a batch of events, in the caller's transaction; returns
/// those to send now (with their agency).
pub(crate) async fn fan_out(db: &impl ConnectionTrait, batch: &[event::Model]) -> Result<Vec<(Uuid, Uuid)>> {
    let agencies: Vec<Uuid> = batch.iter().map(|e| e.agency_id).collect();
    let prefs = notification_preference::Entity::find()
        .filter(notification_preference::Column::AgencyId.is_in(agencies))
        .all(db)
        .await?;
    if prefs.is_empty() {
        return Ok(Vec::new());
    }
    let members: HashMap<Uuid, membership::Model> = membership::Entity::find()
        .filter(membership::Column::Id.is_in(prefs.iter().map(|p| p.membership_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let at = now();
    let mut rows = Vec::new();
    let mut due = Vec::new();
    for pref in &prefs {
        let Some(member) = members.get(&pref.membership_id) else { continue };
        // Access as it is now: a member unassigned from a brand stops hearing of it.
        let Ok(actor) = Actor::from_membership(db, member.clone()).await else { continue };
        let wait = quiet_until(pref, at);
        let channels = [(EMAIL, pref.email), (SLACK, pref.slack_url.is_some()), (TEAMS, pref.teams_url.is_some())];
        for e in batch.iter().filter(|e| e.agency_id == pref.agency_id && hears(&actor, pref, e)) {
            for (channel, on) in channels {
                if !on {
                    continue;
                }
                let id = new_id();
                if wait.is_none() {
                    due.push((id, pref.agency_id));
                }
                rows.push(notification::ActiveModel {
                    id: Set(id),
                    agency_id: Set(pref.agency_id),
                    membership_id: Set(pref.membership_id),
                    event_id: Set(e.id),
                    channel: Set(channel.into()),
                    status: Set("pending".into()),
                    attempts: Set(0),
                    next_attempt_at: Set(Some(wait.unwrap_or(at))),
                    last_error: Set(None),
                    sent_at: Set(None),
                    created_at: Set(at),
                });
            }
        }
    }
    for chunk in crate::platform::db::batches(rows, 256) {
        notification::Entity::insert_many(chunk)
            .on_conflict(
                OnConflict::columns([
                    notification::Column::MembershipId,
                    notification::Column::EventId,
                    notification::Column::Channel,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(due)
}

/// Whether a member hears of an event, as its preferences and access are: of the event
/// types it chose, of brands it sees (and chose), of tickets only as staff, of
/// agency-wide events only as a manager.
fn hears(actor: &Actor, pref: &notification_preference::Model, e: &event::Model) -> bool {
    if e.agency_id != actor.agency_id || !pref.event_types.0.contains(&e.kind) {
        return false;
    }
    let staff_only =
        [events::MENTION_SOLICITATION, events::SLA_AT_RISK, events::SLA_BREACHED].contains(&e.kind.as_str());
    let sees = match e.brand_id {
        Some(brand) => actor.sees_brand(brand) && (pref.brand_ids.0.is_empty() || pref.brand_ids.0.contains(&brand)),
        // Agency-wide events (an agency connection failing) are for managers.
        None => actor.role.is_manager(),
    };
    sees && (!staff_only || actor.is_staff())
}

/// Sends one notification.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverNotification {
    pub id: Uuid,
}

impl JobPayload for DeliverNotification {
    const KIND: &'static str = "notifications.deliver";
}

/// Looks for notifications whose time has come (quiet hours over, retries due).
#[derive(Debug, Serialize, Deserialize)]
pub struct SweepNotifications {}

impl JobPayload for SweepNotifications {
    const KIND: &'static str = "notifications.sweep";
}

pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, job: DeliverNotification| async move {
        deliver(System::new(), &services, job.id).await?;
        Ok(())
    });
    registry.register(|services: Arc<Services>, _meta, _job: SweepNotifications| async move {
        sweep(System::new(), &services).await?;
        Ok(())
    });
    registry.schedule("notifications.sweep", SWEEP, |_slot| Envelope::new(None, &SweepNotifications {}));
}

/// Asks for notifications to be sent; failing to ask is logged (the sweep asks again).
pub(crate) async fn send_soon(services: &Services, due: &[(Uuid, Uuid)]) {
    // The demo's replay of past events tells nobody.
    if crate::simulating() {
        return;
    }
    for (id, agency) in due {
        if let Err(error) =
            crate::platform::jobs::enqueue(services, Some(*agency), &DeliverNotification { id: *id }).await
        {
            tracing::warn!(error = %crate::platform::error::chain(&error), notification = %id, "cannot enqueue a notification; the sweep will");
        }
    }
}

/// Enqueues every notification due by now; returns how many.
pub async fn sweep(_: System, services: &Services) -> Result<usize> {
    let due: Vec<(Uuid, Uuid)> = notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .column(notification::Column::AgencyId)
        .filter(notification::Column::Status.eq("pending"))
        .filter(notification::Column::NextAttemptAt.lte(now()))
        .order_by_asc(notification::Column::NextAttemptAt)
        .limit(500)
        .into_tuple()
        .all(&services.db)
        .await?;
    send_soon(services, &due).await;
    Ok(due.len())
}

/// Claims a due notification and sends it once; a failure waits for the next try, and
/// the last one gives it up. Access and preferences are read again: a member unassigned
/// from a brand, or who no longer wants the event, is not told after all.
pub async fn deliver(_: System, services: &Services, id: Uuid) -> Result<()> {
    let db = &services.db;
    let at = now();
    let lease = at + LEASE;
    let claimed = notification::Entity::update_many()
        .col_expr(notification::Column::NextAttemptAt, Expr::value(lease))
        .filter(notification::Column::Id.eq(id))
        .filter(notification::Column::Status.eq("pending"))
        .filter(notification::Column::NextAttemptAt.lte(at))
        .exec(db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(());
    }
    let Some(row) = notification::Entity::find_by_id(id).one(db).await? else { return Ok(()) };
    let pref = notification_preference::Entity::find()
        .filter(notification_preference::Column::MembershipId.eq(row.membership_id))
        .one(db)
        .await?;
    let event = event::Entity::find_by_id(row.event_id).one(db).await?;
    let member = membership::Entity::find_by_id(row.membership_id).one(db).await?;
    let (Some(pref), Some(event), Some(member)) = (pref, event, member) else {
        return settle(db, &row, lease, Outcome::Cancelled("the member, its preferences or the event are gone")).await;
    };
    let still = match Actor::from_membership(db, member).await {
        Ok(actor) => hears(&actor, &pref, &event),
        Err(_) => false,
    };
    if !still {
        return settle(db, &row, lease, Outcome::Cancelled("the member no longer hears of this event")).await;
    }
    let message = match message(db, services, &event).await {
        Ok(message) => message,
        Err(error) => return settle(db, &row, lease, Outcome::Failed(error.to_string())).await,
    };
    if row.channel == EMAIL {
        // The email and the notification's settlement commit together, so a retry never
        // queues it twice.
        let txn = crate::platform::db::begin_write(db).await?;
        let outcome = match email(&txn, &row, &message).await {
            Ok(()) => Outcome::Sent,
            Err(error) => Outcome::Failed(error),
        };
        settle(&txn, &row, lease, outcome).await?;
        txn.commit().await?;
        mail::send_soon(services, Some(row.agency_id)).await;
        return Ok(());
    }
    let sealed = if row.channel == SLACK { &pref.slack_url } else { &pref.teams_url };
    let outcome = match sealed {
        None => Outcome::Cancelled("the channel was removed from the preferences"),
        Some(sealed) => match open_url(services, row.membership_id, row.agency_id, &row.channel, sealed) {
            Err(error) => Outcome::Failed(error.to_string()),
            Ok(url) => {
                let body = if row.channel == SLACK { slack(&message) } else { teams(&message) };
                match post(services, &url, body).await {
                    Ok(()) => Outcome::Sent,
                    Err(error) => Outcome::Failed(error),
                }
            }
        },
    };
    settle(db, &row, lease, outcome).await
}

/// How one attempt ended.
enum Outcome {
    Sent,
    /// Worth another try.
    Failed(String),
    /// Never to be sent.
    Cancelled(&'static str),
}

/// Records an attempt, only while this attempt still holds the notification (its lease
/// unchanged), so two workers never both settle, nor both send, one notification.
async fn settle(
    db: &impl ConnectionTrait,
    row: &notification::Model,
    lease: DateTime<Utc>,
    outcome: Outcome,
) -> Result<()> {
    let attempts = row.attempts + 1;
    let (status, next, error, sent) = match outcome {
        Outcome::Sent => ("sent", None, None, Some(now())),
        Outcome::Cancelled(why) => ("cancelled", None, Some(why.to_owned()), None),
        Outcome::Failed(error) => match BACKOFF.get(attempts as usize - 1) {
            Some(wait) => ("pending", Some(now() + Duration::minutes(*wait)), Some(error), None),
            None => ("failed", None, Some(error), None),
        },
    };
    notification::Entity::update_many()
        .col_expr(notification::Column::Attempts, Expr::value(attempts))
        .col_expr(notification::Column::Status, Expr::value(status))
        .col_expr(notification::Column::NextAttemptAt, Expr::value(next))
        .col_expr(notification::Column::LastError, Expr::value(error.map(|e| e.chars().take(500).collect::<String>())))
        .col_expr(notification::Column::SentAt, Expr::value(sent))
        .filter(notification::Column::Id.eq(row.id))
        .filter(notification::Column::Status.eq("pending"))
        .filter(notification::Column::NextAttemptAt.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

/// An event told in a few words.
struct Message {
    title: String,
    body: String,
    link: String,
    severity: Option<String>,
}

async fn message(db: &impl ConnectionTrait, services: &Services, event: &event::Model) -> Result<Message> {
    let payload: &Value = &event.payload;
    let brand = match event.brand_id {
        Some(id) => brand::Entity::find_by_id(id).one(db).await?.map(|b| b.name),
        None => None,
    };
    let alert = &payload["alert"];
    let explanation = alert["explanation"]["summary"].as_str().map(str::to_owned);
    let what = match event.kind.as_str() {
        events::CRISIS_OPENED => "negative spike",
        events::VALUE_GAP_OPENED => "gap with a stated value",
        events::MOBILISATION_OPENED => "calls to boycott or act against the brand",
        events::POSITIVE_SPIKE_OPENED => "positive spike",
        events::CRISIS_UPDATED => "alert updated",
        events::CRISIS_RESOLVED => "alert resolved",
        events::SLA_AT_RISK => "ticket close to its response target",
        events::SLA_BREACHED => "ticket past its response target",
        events::MENTION_SOLICITATION => "new solicitation",
        events::INFLUENCER_DISCOVERED => "influencer discovered",
        events::SOURCE_UNHEALTHY => "source failing",
        events::CONNECTION_UNHEALTHY => "connection refused by its network",
        other => other,
    };
    let body = explanation
        .or_else(|| payload["mention"]["text"].as_str().map(str::to_owned))
        .or_else(|| payload["text"].as_str().map(str::to_owned))
        .or_else(|| payload["handle"].as_str().map(|h| format!("@{h}")))
        .or_else(|| payload["lastError"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Message {
        title: format!("[Vigie] {}: {what}", brand.unwrap_or_else(|| "agency".into())),
        body: body.chars().take(500).collect(),
        link: services.config.public_link("graphql"),
        severity: alert["severity"].as_str().map(str::to_owned),
    })
}

/// Slack's incoming-webhook payload: a fallback `text` and blocks.
fn slack(m: &Message) -> Value {
    json!({
        "text": format!("{}\n{}", m.title, m.body),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{}*\n{}", m.title, m.body) } },
            { "type": "context", "elements": [{ "type": "mrkdwn", "text": format!("<{}|Open Vigie>", m.link) }] }
        ]
    })
}

/// A Teams connector card (Office 365 connectors and Power Automate both take it).
fn teams(m: &Message) -> Value {
    let color = match m.severity.as_deref() {
        Some("critical") => "B00020",
        Some("high") => "E65100",
        Some("medium") => "F9A825",
        _ => "0B6E4F",
    };
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": m.title,
        "themeColor": color,
        "title": m.title,
        "text": m.body,
        "potentialAction": [{ "@type": "OpenUri", "name": "Open Vigie", "targets": [{ "os": "default", "uri": m.link }] }]
    })
}

async fn post(services: &Services, url: &str, body: Value) -> std::result::Result<(), String> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    match services.http.post(url, headers, body, services.config.webhook_timeout, 500).await {
        Ok(response) if (200..300).contains(&response.status) => Ok(()),
        Ok(response) => Err(format!("the receiver answered {}", response.status)),
        Err(error) => Err(error.to_string()),
    }
}

/// Writes the email of a notification to the outbox, in the caller's transaction.
async fn email(db: &impl ConnectionTrait, row: &notification::Model, m: &Message) -> std::result::Result<(), String> {
    let to = async {
        let member = membership::Entity::find_by_id(row.membership_id).one(db).await?;
        let Some(member) = member else { return Ok(None) };
        Ok::<_, Error>(user_account::Entity::find_by_id(member.user_id).one(db).await?.map(|u| u.email))
    };
    let Some(to) = to.await.map_err(|e| e.to_string())? else { return Err("the member is gone".into()) };
    let text = format!("{}\n\n{}\n\n{}\n", m.title, m.body, m.link);
    let email = Email { subject: m.title.clone(), text, html: None };
    mail::enqueue(db, Some(row.agency_id), &to, email).await.map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pref(from: &str, to: &str, zone: &str) -> notification_preference::Model {
        notification_preference::Model {
            id: new_id(),
            agency_id: new_id(),
            membership_id: new_id(),
            event_types: StringList::default(),
            brand_ids: UuidList::default(),
            email: true,
            slack_url: None,
            teams_url: None,
            quiet_from: Some(minutes("f", from).unwrap()),
            quiet_to: Some(minutes("t", to).unwrap()),
            time_zone: zone.into(),
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn quiet_hours_hold_in_the_members_time_zone() {
        let night = pref("22:00", "07:30", "Europe/Paris");
        // 21:30 UTC is 22:30 in Paris (winter): quiet until 07:30 Paris, 06:30 UTC.
        let at = Utc.with_ymd_and_hms(2026, 12, 6, 21, 30, 0).unwrap();
        assert_eq!(quiet_until(&night, at), Some(Utc.with_ymd_and_hms(2026, 12, 7, 6, 30, 0).unwrap()));
        // 05:00 UTC is 06:00 in Paris: still quiet, the same morning.
        let early = Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 0).unwrap();
        assert_eq!(quiet_until(&night, early), Some(Utc.with_ymd_and_hms(2026, 12, 7, 6, 30, 0).unwrap()));
        assert_eq!(quiet_until(&night, Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap()), None);
        let lunch = pref("12:00", "14:00", "Asia/Tokyo");
        assert!(quiet_until(&lunch, Utc.with_ymd_and_hms(2026, 12, 7, 4, 0, 0).unwrap()).is_some(), "13:00 in Tokyo");
        assert_eq!(quiet_until(&pref("09:00", "09:00", "UTC"), now()), None);
        assert_eq!(clock(450), "07:30");
    }
}
