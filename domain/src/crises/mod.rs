//! Crisis alerts: negative spikes against a brand's own baseline, and gaps between the
//! values a brand states and what people say about it ([`detect`]); their lifecycle
//! (open → acknowledged → resolved, reopen) with a timeline, and the `crisis.*` /
//! `value_gap.opened` events, emails and live notices each change causes.
//!
//! One alert per brand and kind is open at a time (per brand and *value* for value
//! gaps, so that two denounced values are two alerts, each naming its value); later
//! evidence is added to it. Managers judge alerts ([`verdicts`]), which measures how
//! often each kind is right. The `open_key` column, unique while the alert is not
//! resolved, holds that rule even when detectors run concurrently.

pub mod coordination;
pub mod detect;
pub mod verdicts;

pub use verdicts::{KindPrecision, Verdict};

use minijinja::context;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::Config;
use crate::entities::{alert, alert_event, brand, brand_value, mention};
use crate::platform::bus::Notice;
use crate::platform::mail::Email;
use crate::platform::pagination::{Page, PageRequest};
use crate::scoring::Tier;
use crate::{
    Actor, Error, Result, Services, new_id, now, platform::events, platform::i18n, platform::mail, platform::validate,
};

pub use crate::entities::Severity;
pub use crate::entities::alert::{KINDS, MOBILISATION, NEGATIVE_SPIKE, POSITIVE_SPIKE, VALUE_GAP};

/// Where an alert is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(raw: &str) -> AlertStatus {
        match raw {
            "acknowledged" => AlertStatus::Acknowledged,
            "resolved" => AlertStatus::Resolved,
            _ => AlertStatus::Open,
        }
    }
}

/// The figures of the latest detection that fed an alert.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metrics {
    /// Negative mentions in the window (for a value gap: touching the value, in a day).
    pub negative_count: i64,
    /// Sum over them of negativity × reach weight (1 + log10 of followers, in steps).
    pub reach_weighted: f64,
    /// EWMA mean and standard deviation of the count per window over the baseline day.
    pub baseline_count_mean: f64,
    pub baseline_count_std: f64,
    /// The same for the reach-weighted negativity.
    pub baseline_reach_mean: f64,
    pub baseline_reach_std: f64,
    pub z_count: f64,
    pub z_reach: f64,
    /// The larger of the two z-scores.
    pub z: f64,
    /// Largest audience among the authors.
    pub max_followers: i64,
    /// Mentions linked to the alert so far.
    pub evidence: i64,
    /// Evidence count when subscribers were last told (`crisis.updated` is sent again
    /// once it grows by half, or when severity rises).
    pub notified_evidence: i64,
    /// How much the latest detection's evidence looks coordinated; absent on alerts
    /// opened before it was assessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coordination: Option<coordination::Coordination>,
}

/// An author among the loudest of an alert.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopAuthor {
    pub author_id: Uuid,
    pub handle: String,
    pub network: String,
    pub followers: i64,
    pub mentions: i64,
}

/// Why an alert opened, as figures; [`Reason::text`] puts them in words.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "key", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Reason {
    /// Negative mentions of a window against the brand's baseline.
    Spike { count: i64, minutes: i64, mean: f64, std: f64, z: f64, threshold: f64 },
    /// One far-reaching author accuses the brand of failing a value.
    AccusedByInfluencer { tier: Tier, followers: i64, value: String },
    /// A day's accusations of failing a value against the brand's usual number.
    Accusations { count: i64, value: String, mean: f64, std: f64, threshold: f64 },
    /// Positive mentions of a window against the brand's baseline.
    PositiveSpike { count: i64, minutes: i64, mean: f64, std: f64, z: f64, threshold: f64 },
    /// Calls to act against the brand in a window against its baseline.
    Mobilisation { count: i64, minutes: i64, mean: f64, std: f64, z: f64, threshold: f64 },
    /// One far-reaching author calls to act against the brand.
    CalledByInfluencer { tier: Tier, followers: i64 },
}

impl Reason {
    /// One sentence with the figures, in `lang`.
    pub fn text(&self, lang: &str) -> String {
        let tenth = |x: f64| format!("{x:.1}");
        let spike = |key: &str, count: &i64, minutes: &i64, mean: &f64, std: &f64, z: &f64, threshold: &f64| {
            i18n::text(
                lang,
                key,
                context! { count, minutes, mean => tenth(*mean), std => tenth(*std), z => tenth(*z), threshold => tenth(*threshold) },
            )
        };
        let tier = |tier: &Tier| i18n::text(lang, &format!("tier.{}", tier.as_str()), ());
        match self {
            Reason::Spike { count, minutes, mean, std, z, threshold } => {
                spike("summary.spike", count, minutes, mean, std, z, threshold)
            }
            Reason::PositiveSpike { count, minutes, mean, std, z, threshold } => {
                spike("summary.positive_spike", count, minutes, mean, std, z, threshold)
            }
            Reason::Mobilisation { count, minutes, mean, std, z, threshold } => {
                spike("summary.mobilisation", count, minutes, mean, std, z, threshold)
            }
            Reason::CalledByInfluencer { tier: t, followers } => {
                i18n::text(lang, "summary.called_by_influencer", context! { tier => tier(t), followers })
            }
            Reason::AccusedByInfluencer { tier: tier_of, followers, value } => {
                i18n::text(lang, "summary.accused_by_influencer", context! { tier => tier(tier_of), followers, value })
            }
            Reason::Accusations { count, value, mean, std, threshold } => i18n::text(
                lang,
                "summary.accusations",
                context! { count, value, mean => tenth(*mean), std => tenth(*std), threshold => format!("{threshold:.0}") },
            ),
        }
    }
}

/// Why an alert opened, in words and figures a person can check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Explanation {
    /// [`Explanation::reason`] in English, for webhook consumers and older readers.
    pub summary: String,
    /// The figures behind the summary; absent on alerts opened before it was kept, and
    /// read as absent when written by a newer version (the English summary remains).
    #[serde(deserialize_with = "lenient_reason")]
    pub reason: Option<Reason>,
    /// Most frequent meaningful words of the negative mentions.
    pub top_terms: Vec<String>,
    pub top_authors: Vec<TopAuthor>,
    /// A few of the most far-reaching mentions of the alert.
    pub sample_mention_ids: Vec<Uuid>,
    /// The most used hashtags of the evidence.
    pub top_hashtags: Vec<String>,
    /// The first posts of the evidence, oldest first.
    pub first_mention_ids: Vec<Uuid>,
    /// The most shared and liked posts of the evidence.
    pub most_shared_mention_ids: Vec<Uuid>,
}

fn lenient_reason<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Reason>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

impl Explanation {
    /// The summary in `lang` (the stored English one for alerts without a reason).
    pub fn summary_in(&self, lang: &str) -> String {
        self.reason.as_ref().map_or_else(|| self.summary.clone(), |reason| reason.text(lang))
    }
}

/// A crisis alert opened (or worsened: `worsened_from` is the severity before), for the
/// brand's escalation contacts, in the brand's language.
fn crisis_email(
    config: &Config,
    brand: &brand::Model,
    alert: &alert::Model,
    value: Option<&str>,
    worsened_from: Option<Severity>,
) -> Result<Email> {
    let lang = brand.language.as_str();
    let explanation: Explanation = serde_json::from_value(alert.explanation.clone()).unwrap_or_default();
    let metrics: Metrics = serde_json::from_value(alert.metrics.clone()).unwrap_or_default();
    let what = match value {
        Some(value) => i18n::text(lang, "email.crisis.value_gap", context! { value }),
        None if alert.kind == MOBILISATION => i18n::text(lang, "email.crisis.mobilisation", ()),
        None => i18n::text(lang, "email.crisis.spike", ()),
    };
    let severity = i18n::text(lang, &format!("severity.{}", alert.severity), ()).to_uppercase();
    let subject = match worsened_from {
        None => i18n::text(lang, "email.crisis.subject", context! { severity, what, brand => brand.name }),
        Some(before) => i18n::text(
            lang,
            "email.crisis.subject_worsened",
            context! {
                before => i18n::text(lang, &format!("severity.{}", before.as_str()), ()).to_uppercase(),
                severity, what, brand => brand.name,
            },
        ),
    };
    mail::compose(
        "crisis",
        subject,
        context! {
            lang,
            summary => explanation.summary_in(lang),
            terms => explanation.top_terms,
            authors => explanation.top_authors,
            evidence => metrics.evidence,
            link => config.public_link(&format!("graphql?alert={}", alert.id)),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_read_in_any_language_and_survive_unknown_reasons() {
        let reason =
            Reason::Accusations { count: 4, value: "Zéro plastique".into(), mean: 0.5, std: 1.0, threshold: 3.0 };
        let explanation = Explanation { summary: reason.text("en"), reason: Some(reason), ..Default::default() };
        let stored = serde_json::to_value(&explanation).unwrap();
        let read: Explanation = serde_json::from_value(stored).unwrap();
        assert!(read.summary_in("fr").starts_with("4 accusations de trahir « Zéro plastique »"), "{read:?}");
        let newer = serde_json::json!({ "summary": "a newer kind", "reason": { "key": "fromTheFuture", "n": 1 }, "topTerms": ["x"] });
        let read: Explanation = serde_json::from_value(newer).unwrap();
        assert_eq!((read.summary_in("fr").as_str(), read.top_terms.len()), ("a newer kind", 1));
    }
}

/// Filters of [`list`].
#[derive(Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub kind: Option<String>,
    pub min_severity: Option<Severity>,
}

/// A visible brand's alerts, newest first.
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: AlertFilter,
    page: PageRequest,
) -> Result<Page<alert::Model>> {
    let brand = actor.check_brand(&services.db, brand_id).await?;
    list_across(services, actor, &[brand], filter, page).await
}

/// The alerts of several brands (`brand_ids` as [`Actor::brands_in_view`] gives them),
/// newest first: the agency's alerts.
pub async fn list_across(
    services: &Services,
    actor: &Actor,
    brand_ids: &[Uuid],
    filter: AlertFilter,
    page: PageRequest,
) -> Result<Page<alert::Model>> {
    let mut select = alert::Entity::find()
        .filter(alert::Column::AgencyId.eq(actor.agency_id))
        .filter(alert::Column::BrandId.is_in(brand_ids.iter().copied()));
    if let Some(status) = filter.status {
        select = select.filter(alert::Column::Status.eq(status.as_str()));
    }
    if let Some(kind) = filter.kind {
        select = select.filter(alert::Column::Kind.eq(kind));
    }
    if let Some(min) = filter.min_severity {
        let levels: Vec<&str> = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical]
            .into_iter()
            .filter(|s| *s >= min)
            .map(Severity::as_str)
            .collect();
        select = select.filter(alert::Column::Severity.is_in(levels));
    }
    crate::platform::pagination::fetch(
        &services.db,
        select,
        alert::Column::Id,
        crate::platform::pagination::Direction::Descending,
        page,
    )
    .await
}

/// One alert of a brand the actor sees; anything else is "not found".
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<alert::Model> {
    let found = alert::Entity::find_by_id(id)
        .filter(alert::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|a| actor.sees_brand(a.brand_id))
        .ok_or(Error::NotFound("alert"))?;
    Ok(found)
}

/// The timelines of those of several alerts the actor sees, oldest step first.
pub async fn timelines(
    db: &impl ConnectionTrait,
    actor: &Actor,
    alert_ids: &[Uuid],
) -> Result<Vec<alert_event::Model>> {
    let alert_ids = visible_alerts(db, actor, alert_ids).await?;
    Ok(alert_event::Entity::find()
        .filter(alert_event::Column::AlertId.is_in(alert_ids))
        .order_by_asc(alert_event::Column::OccurredAt)
        .order_by_asc(alert_event::Column::Id)
        .all(db)
        .await?)
}

async fn visible_alerts(db: &impl ConnectionTrait, actor: &Actor, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    let (id, agency, brand) = (alert::Column::Id, alert::Column::AgencyId, alert::Column::BrandId);
    actor.visible_ids::<alert::Entity>(db, ids, id, agency, Some(brand)).await
}

/// The newest `first` mentions linked to each of those of several alerts the actor
/// sees, in one query: `ROW_NUMBER()` per alert, which both databases have.
pub async fn linked_mentions(
    db: &impl ConnectionTrait,
    actor: &Actor,
    alert_ids: &[Uuid],
    first: u64,
) -> Result<Vec<(Uuid, mention::Model)>> {
    use sea_orm::FromQueryResult;
    let alert_ids = visible_alerts(db, actor, alert_ids).await?;
    if alert_ids.is_empty() {
        return Ok(Vec::new());
    }
    let agency_id = actor.agency_id;
    let mut p = crate::platform::db::Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT m.*, ranked.alert_id AS linked_alert_id FROM mention m JOIN ( \
           SELECT am.alert_id, am.mention_id, ROW_NUMBER() OVER ( \
             PARTITION BY am.alert_id ORDER BY mm.published_at DESC, mm.id DESC) AS position \
           FROM alert_mention am JOIN mention mm ON mm.id = am.mention_id \
           WHERE am.alert_id IN ({}) AND mm.agency_id = {}) ranked ON ranked.mention_id = m.id \
         WHERE ranked.position <= {} ORDER BY ranked.alert_id, m.published_at DESC, m.id DESC",
        p.bind_all(alert_ids.iter().copied()),
        p.bind(agency_id),
        p.bind(first as i64)
    );
    let rows = db.query_all_raw(p.statement(sql)).await?;
    rows.iter()
        .map(|row| Ok((row.try_get::<Uuid>("", "linked_alert_id")?, mention::Model::from_query_result(row, "")?)))
        .collect()
}

/// Marks an alert as seen by the agency (staff of the brand).
pub async fn acknowledge(services: &Services, actor: &Actor, id: Uuid, note: Option<String>) -> Result<alert::Model> {
    actor.require_staff()?;
    let note = validate::optional_text("note", note.as_deref(), 2_000)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get(&txn, actor, id).await?;
    if AlertStatus::parse(&existing.status) != AlertStatus::Open {
        return Err(Error::bad_input("id", format!("the alert is {}, not open", existing.status)));
    }
    let at = now();
    let mut model: alert::ActiveModel = existing.into();
    model.status = Set(AlertStatus::Acknowledged.as_str().into());
    model.acknowledged_at = Set(Some(at));
    model.updated_at = Set(at);
    let updated = model.update(&txn).await?;
    step(&txn, updated.id, "acknowledged", Some(actor.user_id), json!({ "note": note })).await?;
    txn.commit().await?;
    announce(services, &updated).await;
    Ok(updated)
}

/// Closes an alert with what was done about it; a new alert of its kind may open after.
pub async fn resolve(services: &Services, actor: &Actor, id: Uuid, note: String) -> Result<alert::Model> {
    actor.require_staff()?;
    let note = validate::name("note", &note, 2_000)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get(&txn, actor, id).await?;
    if AlertStatus::parse(&existing.status) == AlertStatus::Resolved {
        return Err(Error::bad_input("id", "the alert is already resolved"));
    }
    let at = now();
    let mut model: alert::ActiveModel = existing.into();
    model.status = Set(AlertStatus::Resolved.as_str().into());
    model.resolved_at = Set(Some(at));
    model.resolution_note = Set(Some(note.clone()));
    model.open_key = Set(None);
    model.updated_at = Set(at);
    let updated = model.update(&txn).await?;
    step(&txn, updated.id, "resolved", Some(actor.user_id), json!({ "note": note })).await?;
    let payload = event_payload(&txn, &updated).await?;
    events::record(&txn, updated.agency_id, Some(updated.brand_id), events::CRISIS_RESOLVED, payload).await?;
    txn.commit().await?;
    announce(services, &updated).await;
    events::dispatch_soon(services, Some(updated.agency_id)).await;
    Ok(updated)
}

/// Reopens a resolved alert, unless another alert of its kind opened since; a judged
/// alert only by those who judge (owners and admins), as reopening clears the verdict.
pub async fn reopen(services: &Services, actor: &Actor, id: Uuid) -> Result<alert::Model> {
    actor.require_staff()?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get(&txn, actor, id).await?;
    if existing.verdict.is_some() {
        actor.require_manager()?;
    }
    if AlertStatus::parse(&existing.status) != AlertStatus::Resolved {
        return Err(Error::bad_input("id", "only a resolved alert can be reopened"));
    }
    let key = open_key(existing.brand_id, &existing.kind, existing.brand_value_id);
    if let Some(other) = alert::Entity::find().filter(alert::Column::OpenKey.eq(key.clone())).one(&txn).await? {
        return Err(Error::Conflict(format!("alert {} of the same kind is already open", other.id)));
    }
    let at = now();
    let mut model: alert::ActiveModel = existing.into();
    model.status = Set(AlertStatus::Open.as_str().into());
    model.resolved_at = Set(None);
    model.acknowledged_at = Set(None);
    model.open_key = Set(Some(key));
    // Reopening says the alert was not a false alarm after all.
    model.verdict = Set(None);
    model.verdict_note = Set(None);
    model.judged_at = Set(None);
    model.updated_at = Set(at);
    let updated = model.update(&txn).await?;
    step(&txn, updated.id, "reopened", Some(actor.user_id), json!({})).await?;
    if let Some(brand) = brand::Entity::find_by_id(updated.brand_id).one(&txn).await? {
        detect::hold_if_serious(&txn, &brand, &updated, at).await?;
    }
    let mut payload = event_payload(&txn, &updated).await?;
    payload["change"] = json!("reopened");
    events::record(&txn, updated.agency_id, Some(updated.brand_id), events::CRISIS_UPDATED, payload).await?;
    txn.commit().await?;
    announce(services, &updated).await;
    events::dispatch_soon(services, Some(updated.agency_id)).await;
    Ok(updated)
}

/// The key that is unique while an alert is not resolved.
pub(crate) fn open_key(brand_id: Uuid, kind: &str, value_id: Option<Uuid>) -> String {
    match value_id {
        Some(value) => format!("{brand_id}:{kind}:{value}"),
        None => format!("{brand_id}:{kind}"),
    }
}

/// Adds a step to an alert's timeline.
pub(crate) async fn step(
    db: &impl ConnectionTrait,
    alert_id: Uuid,
    kind: &str,
    actor: Option<Uuid>,
    detail: serde_json::Value,
) -> Result<()> {
    alert_event::ActiveModel {
        id: Set(new_id()),
        alert_id: Set(alert_id),
        kind: Set(kind.into()),
        actor_user_id: Set(actor),
        detail: Set(detail),
        occurred_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Tells live subscribers that the alert changed.
pub(crate) async fn announce(services: &Services, alert: &alert::Model) {
    services
        .bus
        .publish(Notice::Alert { agency_id: alert.agency_id, brand_id: alert.brand_id, alert_id: alert.id })
        .await;
}

/// The `data` of `crisis.*` and `value_gap.opened` events: the alert as webhook
/// consumers see it (documented in the README).
pub(crate) async fn event_payload(db: &impl ConnectionTrait, alert: &alert::Model) -> Result<serde_json::Value> {
    let brand = brand::Entity::find_by_id(alert.brand_id).one(db).await?;
    let value = match alert.brand_value_id {
        Some(id) => brand_value::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    Ok(json!({
        "alert": {
            "id": alert.id,
            "brandId": alert.brand_id,
            "brandName": brand.map(|b| b.name),
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "value": value.map(|v| json!({ "id": v.id, "name": v.name })),
            "windowStart": alert.window_start,
            "windowEnd": alert.window_end,
            "openedAt": alert.opened_at,
            "resolvedAt": alert.resolved_at,
            "resolutionNote": alert.resolution_note,
            "verdict": alert.verdict,
            "verdictNote": alert.verdict_note,
            "metrics": alert.metrics,
            "explanation": alert.explanation,
        }
    }))
}

/// Emails the brand's escalation contacts about an alert that opened or worsened.
pub(crate) async fn email_contacts(
    db: &impl ConnectionTrait,
    config: &crate::Config,
    brand: &brand::Model,
    alert: &alert::Model,
    value_name: Option<&str>,
    worsened_from: Option<Severity>,
) -> Result<usize> {
    let email = crisis_email(config, brand, alert, value_name, worsened_from)?;
    for to in &brand.escalation_emails.0 {
        mail::enqueue(db, Some(brand.agency_id), to, email.clone()).await?;
    }
    Ok(brand.escalation_emails.0.len())
}
