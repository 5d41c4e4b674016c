//! Scheduled digests: each brand's report for the last full week (or month, in the
//! brand's time zone) emailed to its client viewers, in the brand's language, as HTML
//! with the charts inline and a text part, with a link to the full report (a share that
//! lasts 30 days). The period is claimed by a conditional update of
//! `brand.last_digest_at`, so however many workers run the hourly job, a digest goes out
//! once.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use minijinja::context;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::{Section, html};
use crate::System;
use crate::entities::{brand, membership, membership_brand, user_account};
use crate::platform::jobs::Registry;
use crate::platform::mail::{self, Email};
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Result, Services, now, platform::i18n};

/// Sends the digests that are due.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SendDigests {}

impl JobPayload for SendDigests {
    const KIND: &'static str = "reports.digests";
}

/// Registers the hourly digest job.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: SendDigests| async move {
        send_digests(System::new(), &services, now()).await?;
        Ok(())
    });
    registry.schedule("reports.digests", std::time::Duration::from_secs(3600), |_slot| {
        Envelope::new(None, &SendDigests {})
    });
}

fn local_midnight(zone: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).expect("midnight");
    zone.from_local_datetime(&naive).earliest().map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc))
}

/// The last full period before `at`: `[start, end)` with `end` the latest Monday (weekly)
/// or first of the month (monthly), at local midnight.
pub fn last_period(zone: Tz, frequency: &str, at: DateTime<Utc>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let today = at.with_timezone(&zone).date_naive();
    match frequency {
        "weekly" => {
            let end = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            Some((local_midnight(zone, end - Duration::days(7)), local_midnight(zone, end)))
        }
        "monthly" => {
            let end = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)?;
            let start = if end.month() == 1 {
                NaiveDate::from_ymd_opt(end.year() - 1, 12, 1)?
            } else {
                NaiveDate::from_ymd_opt(end.year(), end.month() - 1, 1)?
            };
            Some((local_midnight(zone, start), local_midnight(zone, end)))
        }
        _ => None,
    }
}

/// The emails of a brand's client viewers.
async fn client_contacts(db: &impl ConnectionTrait, brand: &brand::Model) -> Result<Vec<String>> {
    let assigned: Vec<uuid::Uuid> = membership_brand::Entity::find()
        .select_only()
        .column(membership_brand::Column::MembershipId)
        .filter(membership_brand::Column::BrandId.eq(brand.id))
        .into_tuple()
        .all(db)
        .await?;
    let users: Vec<uuid::Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::AgencyId.eq(brand.agency_id))
        .filter(membership::Column::Id.is_in(assigned))
        .filter(membership::Column::Role.eq("client_viewer"))
        .into_tuple()
        .all(db)
        .await?;
    Ok(user_account::Entity::find()
        .filter(user_account::Column::Id.is_in(users))
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.email)
        .collect())
}

/// Sends every digest due at `at`; returns how many brands got one.
pub async fn send_digests(system: System, services: &Services, at: DateTime<Utc>) -> Result<usize> {
    let db = &services.db;
    let brands = brand::Entity::find().filter(brand::Column::DigestFrequency.ne("off")).all(db).await?;
    let mut sent = 0;
    for brand in brands {
        let zone: Tz = brand.time_zone.parse().unwrap_or(chrono_tz::UTC);
        let Some((from, to)) = last_period(zone, &brand.digest_frequency, at) else { continue };
        if brand.last_digest_at.is_some_and(|last| last >= to) {
            continue;
        }
        let contacts = client_contacts(db, &brand).await?;
        if contacts.is_empty() {
            continue;
        }
        let txn = crate::platform::db::begin_write(db).await?;
        let claimed = brand::Entity::update_many()
            .col_expr(brand::Column::LastDigestAt, Expr::value(to))
            .filter(brand::Column::Id.eq(brand.id))
            .filter(Condition::any().add(brand::Column::LastDigestAt.is_null()).add(brand::Column::LastDigestAt.lt(to)))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let report = super::build(system, &txn, brand.clone(), from, to, Section::ALL.to_vec()).await?;
        let share = crate::shares::NewShare {
            agency_id: brand.agency_id,
            brand_id: brand.id,
            kind: super::KIND,
            prefix: super::TOKEN_PREFIX,
            period: Some((from, to)),
            sections: Section::ALL.iter().map(|s| s.as_str().to_owned()).collect(),
            expires_at: Some(at + Duration::days(30)),
            created_by: None,
        };
        let (_, token) = crate::shares::create(&txn, share).await?;
        let message = email(&report, &super::url(services, &token))?;
        for to_address in &contacts {
            mail::enqueue(&txn, Some(brand.agency_id), to_address, message.clone()).await?;
        }
        txn.commit().await?;
        tracing::info!(brand_id = %brand.id, recipients = contacts.len(), "report digest queued");
        sent += 1;
    }
    if sent > 0 {
        mail::send_soon(services, None).await;
    }
    Ok(sent)
}

/// The digest email of a report, in the brand's language.
pub fn email(report: &super::Report, link: &str) -> Result<Email> {
    let lang = report.brand.language.as_str();
    let period =
        format!("{} – {}", report.from.format("%Y-%m-%d"), (report.to - Duration::seconds(1)).format("%Y-%m-%d"));
    let key =
        if report.brand.digest_frequency == "weekly" { "digest.subject.weekly" } else { "digest.subject.monthly" };
    let subject = i18n::text(lang, key, context! { brand => report.brand.name, period });
    let top: Vec<String> =
        report.influencers.iter().take(3).map(|i| format!("@{} ({:.0})", i.handle, i.score)).collect();
    let text = i18n::render(
        "report/digest.txt",
        context! {
            lang,
            subject,
            mentions => report.days.iter().map(|d| d.mentions).sum::<i64>(),
            negative => report.days.iter().map(|d| d.negative).sum::<i64>(),
            ratings => report.ratings.as_ref().map(|r| context! { reviews => r.reviews, mean => html::decimal(lang, r.mean) }),
            top => top.join(", "),
            within_target => html::percent(lang, report.sla.as_ref().and_then(|s| s.overall.share_within_target)),
            alerts => report.alerts.len(),
            precision => html::precision_summary(&report.precision, lang),
            posts => report.csr.as_ref().map_or(0, |c| c.posts),
            share_of_voice => report.competition.as_ref().map(|c| {
                let share = &c.share;
                share.total.iter().map(|v| format!("{} {}", share.name_of(v.entity), html::percent(lang, v.share))).collect::<Vec<_>>().join(", ")
            }),
            link,
        },
    )?;
    let html = i18n::render("report/digest.html", context! { link, ..html::view(report, None) })?;
    Ok(Email { subject, text, html: Some(html) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_end_at_local_midnight() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        // Wednesday 2 December 2026, 10:00 UTC.
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
        let (from, to) = last_period(paris, "weekly", at).unwrap();
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            ("2026-11-22T23:00:00+00:00".into(), "2026-11-29T23:00:00+00:00".into())
        );
        let (from, to) = last_period(paris, "monthly", at).unwrap();
        assert_eq!(
            (from.to_rfc3339(), to.to_rfc3339()),
            ("2026-10-31T23:00:00+00:00".into(), "2026-11-30T23:00:00+00:00".into())
        );
        let january = Utc.with_ymd_and_hms(2027, 1, 15, 10, 0, 0).unwrap();
        assert_eq!(last_period(paris, "monthly", january).unwrap().0.to_rfc3339(), "2026-11-30T23:00:00+00:00");
        assert_eq!(last_period(paris, "off", at), None);
    }
}
