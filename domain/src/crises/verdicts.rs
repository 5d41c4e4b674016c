//! Feedback on alerts: a manager's verdict (confirmed, or a false alarm, which closes
//! the alert and releases the calendar posts it held), and the precision those
//! verdicts give per kind of alert.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{AlertStatus, announce, event_payload, get, step};
use crate::System;
use crate::calendar::ContentStatus;
use crate::entities::{alert, content_item, content_review};
use crate::{Actor, Error, Result, Services, now, platform::audit, platform::events, platform::validate};

/// A manager's judgement of an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The alert was right.
    Confirmed,
    /// Nothing was wrong: the alert closes and releases what it held.
    FalseAlarm,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Confirmed => "confirmed",
            Verdict::FalseAlarm => "false_alarm",
        }
    }

    pub fn parse(raw: &str) -> Option<Verdict> {
        [Verdict::Confirmed, Verdict::FalseAlarm].into_iter().find(|v| v.as_str() == raw)
    }
}

/// Records a manager's verdict on an alert (a later verdict replaces it). A false alarm
/// resolves the alert if it is not, and releases the calendar posts it held back to the
/// status they had.
pub async fn judge(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    verdict: Verdict,
    note: Option<String>,
) -> Result<alert::Model> {
    actor.require_manager()?;
    let note = validate::optional_text("note", note.as_deref(), 2_000)?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let existing = get(&txn, actor, id).await?;
    // Locked against a detection adding to it or holding posts under it meanwhile.
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        alert::Entity::find_by_id(existing.id).lock_exclusive().one(&txn).await?;
    }
    let was_false_alarm = existing.verdict.as_deref() == Some(Verdict::FalseAlarm.as_str());
    if verdict == Verdict::Confirmed && was_false_alarm && AlertStatus::parse(&existing.status) == AlertStatus::Resolved
    {
        return Err(Error::bad_input("verdict", "the alert was closed as a false alarm: reopen it first"));
    }
    let at = now();
    let mut model: alert::ActiveModel = existing.clone().into();
    model.verdict = Set(Some(verdict.as_str().into()));
    model.verdict_note = Set(note.clone());
    model.judged_at = Set(Some(at));
    model.updated_at = Set(at);
    let closes = verdict == Verdict::FalseAlarm && AlertStatus::parse(&existing.status) != AlertStatus::Resolved;
    if closes {
        model.status = Set(AlertStatus::Resolved.as_str().into());
        model.resolved_at = Set(Some(at));
        model.resolution_note = Set(Some(note.clone().unwrap_or_else(|| "false alarm".into())));
        model.open_key = Set(None);
    }
    let updated = model.update(&txn).await?;
    // After the update: a post another open alert should hold is handed to it.
    let released = if verdict == Verdict::FalseAlarm { release_holds(&txn, actor, &updated, at).await? } else { 0 };
    let detail = json!({ "verdict": verdict.as_str(), "note": note, "released": released });
    step(&txn, updated.id, "judged", Some(actor.user_id), detail.clone()).await?;
    audit::record(&txn, actor, "alert.judged", "alert", Some(updated.id), detail).await?;
    let mut payload = event_payload(&txn, &updated).await?;
    let kind = if closes {
        events::CRISIS_RESOLVED
    } else {
        payload["change"] = json!("judged");
        events::CRISIS_UPDATED
    };
    events::record(&txn, updated.agency_id, Some(updated.brand_id), kind, payload).await?;
    txn.commit().await?;
    tracing::info!(alert_id = %updated.id, verdict = verdict.as_str(), released, "alert judged");
    announce(services, &updated).await;
    events::dispatch_soon(services, Some(updated.agency_id)).await;
    Ok(updated)
}

/// Returns the posts an alert put on hold to the status they had before it, unless
/// another open alert on one of their values should hold them, which then does; returns
/// how many were released.
async fn release_holds(
    db: &impl ConnectionTrait,
    actor: &Actor,
    alert: &alert::Model,
    at: DateTime<Utc>,
) -> Result<u64> {
    let held = content_item::Entity::find()
        .filter(content_item::Column::AgencyId.eq(alert.agency_id))
        .filter(content_item::Column::BrandId.eq(alert.brand_id))
        .filter(content_item::Column::HoldAlertId.eq(alert.id))
        .filter(content_item::Column::Status.eq(ContentStatus::OnHold.as_str()))
        .all(db)
        .await?;
    let mut released = 0;
    for item in &held {
        if let Some(other) = crate::calendar::open_value_gap(db, item).await? {
            let note = Some(format!("held: value-gap alert {other} on a value this item speaks to"));
            crate::calendar::review(db, item, Some(actor.user_id), ContentStatus::OnHold, note).await?;
            let mut model: content_item::ActiveModel = item.clone().into();
            model.hold_alert_id = Set(Some(other));
            model.updated_at = Set(at);
            model.update(db).await?;
            continue;
        }
        released += 1;
        let before: Option<String> = content_review::Entity::find()
            .select_only()
            .column(content_review::Column::FromStatus)
            .filter(content_review::Column::ContentItemId.eq(item.id))
            .filter(content_review::Column::ToStatus.eq(ContentStatus::OnHold.as_str()))
            .order_by_desc(content_review::Column::CreatedAt)
            .order_by_desc(content_review::Column::Id)
            .into_tuple()
            .one(db)
            .await?;
        let back = match before.as_deref().map(ContentStatus::parse) {
            Some(ContentStatus::Scheduled) => ContentStatus::Scheduled,
            _ => ContentStatus::Approved,
        };
        let note = Some(format!("released: alert {} judged a false alarm", alert.id));
        crate::calendar::review(db, item, Some(actor.user_id), back, note).await?;
        let mut model: content_item::ActiveModel = item.clone().into();
        model.status = Set(back.as_str().into());
        model.hold_alert_id = Set(None);
        model.updated_at = Set(at);
        model.update(db).await?;
    }
    Ok(released)
}

/// How often one kind of alert was right, among the alerts opened in a period.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindPrecision {
    /// `negative_spike` or `value_gap`.
    pub kind: &'static str,
    pub opened: i64,
    pub judged: i64,
    pub confirmed: i64,
    pub false_alarms: i64,
    /// `confirmed / judged`; `None` while none is judged.
    pub precision: Option<f64>,
}

/// Precision per kind of the alerts of a brand the actor sees, opened in `from..to`.
pub async fn precision(
    db: &impl ConnectionTrait,
    actor: &Actor,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<KindPrecision>> {
    if to <= from {
        return Err(Error::bad_input("to", "the period must end after it starts"));
    }
    let brand = actor.check_brand(db, brand_id).await?;
    precision_of(System::new(), db, actor.agency_id, brand, from, to).await
}

/// [`precision`] for a brand already checked (reports and digests).
pub async fn precision_of(
    _: System,
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<KindPrecision>> {
    let rows: Vec<(String, Option<String>, i64)> = alert::Entity::find()
        .select_only()
        .column(alert::Column::Kind)
        .column(alert::Column::Verdict)
        .column_as(alert::Column::Id.count(), "n")
        .filter(alert::Column::AgencyId.eq(agency_id))
        .filter(alert::Column::BrandId.eq(brand_id))
        .filter(alert::Column::OpenedAt.gte(from))
        .filter(alert::Column::OpenedAt.lt(to))
        .group_by(alert::Column::Kind)
        .group_by(alert::Column::Verdict)
        .into_tuple()
        .all(db)
        .await?;
    Ok(crate::entities::alert::KINDS
        .into_iter()
        .map(|kind| {
            let mut p = KindPrecision { kind, opened: 0, judged: 0, confirmed: 0, false_alarms: 0, precision: None };
            for (_, verdict, n) in rows.iter().filter(|r| r.0 == kind) {
                p.opened += n;
                match verdict.as_deref().and_then(Verdict::parse) {
                    Some(Verdict::Confirmed) => p.confirmed += n,
                    Some(Verdict::FalseAlarm) => p.false_alarms += n,
                    None => {}
                }
            }
            p.judged = p.confirmed + p.false_alarms;
            p.precision = (p.judged > 0).then(|| p.confirmed as f64 / p.judged as f64);
            p
        })
        .collect())
}
