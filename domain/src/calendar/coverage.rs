//! Coverage of a brand's calendar over a period: the share of posts per CSR pillar
//! against its target, pillars left silent, posts on one channel too close together,
//! and posts held by a value-gap alert.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;
use uuid::Uuid;

use super::ContentStatus;
use crate::entities::{content_item, csr_pillar};
use crate::{Actor, Error, Result, Services};

/// A pillar's share of the period's posts.
#[derive(Clone, Debug, PartialEq)]
pub struct PillarCoverage {
    pub pillar: csr_pillar::Model,
    pub posts: i64,
    /// Of all the period's posts; 0 when there are none.
    pub share: f64,
    pub target_share: f64,
    /// `share − target`: negative when the pillar is under-served.
    pub gap: f64,
    /// The latest post of the pillar up to the period's end.
    pub last_post_at: Option<DateTime<Utc>>,
    /// No post in the `silent_days` before the period's end.
    pub silent: bool,
}

/// Two posts on one channel closer than the minimum gap.
#[derive(Clone, Debug, PartialEq)]
pub struct Crowding {
    pub channel: String,
    pub first: content_item::Model,
    pub second: content_item::Model,
    pub minutes_apart: i64,
}

/// The coverage of a period.
#[derive(Clone, Debug)]
pub struct Coverage {
    /// Approved, scheduled and published items in the period.
    pub posts: i64,
    pub pillars: Vec<PillarCoverage>,
    pub crowded: Vec<Crowding>,
    /// Items of the period on hold because of a value-gap alert.
    pub held: Vec<content_item::Model>,
}

/// Computes a brand's coverage for `[from, to)`.
pub async fn coverage(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    silent_days: i64,
    min_gap_minutes: i64,
) -> Result<Coverage> {
    if to <= from || to - from > Duration::days(400) {
        return Err(Error::bad_input("to", "the period must end after it starts and span at most 400 days"));
    }
    if !(1..=365).contains(&silent_days) || !(0..=10_080).contains(&min_gap_minutes) {
        return Err(Error::bad_input("silentDays", "silentDays 1–365, minGapMinutes 0–10080"));
    }
    let brand = actor.brand(&services.db, brand_id).await?;
    coverage_of(&services.db, &brand, from, to, silent_days, min_gap_minutes).await
}

/// [`coverage`] for a brand already authorised (shared reports).
pub(crate) async fn coverage_of(
    db: &impl sea_orm::ConnectionTrait,
    brand: &crate::entities::brand::Model,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    silent_days: i64,
    min_gap_minutes: i64,
) -> Result<Coverage> {
    let lookback = (to - Duration::days(silent_days)).min(from);
    let items = content_item::Entity::find()
        .filter(content_item::Column::BrandId.eq(brand.id))
        .filter(content_item::Column::ScheduledAt.gte(lookback))
        .filter(content_item::Column::ScheduledAt.lt(to))
        .order_by_asc(content_item::Column::ScheduledAt)
        .order_by_asc(content_item::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = items.iter().map(|i| i.id).collect();
    let (links, _) = super::links_of(db, &ids).await?;
    let pillars = super::pillars(db, &[brand.id]).await?;
    let in_period = |i: &content_item::Model| i.scheduled_at >= from && i.scheduled_at < to;
    let planned: Vec<&content_item::Model> =
        items.iter().filter(|i| ContentStatus::parse(&i.status).planned()).collect();
    let posts = planned.iter().filter(|i| in_period(i)).count() as i64;
    let silent_since = to - Duration::days(silent_days);

    let mut per_pillar: HashMap<Uuid, (i64, Option<DateTime<Utc>>)> = HashMap::new();
    for item in &planned {
        for pillar in links.get(&item.id).into_iter().flatten() {
            let entry = per_pillar.entry(*pillar).or_default();
            if in_period(item) {
                entry.0 += 1;
            }
            entry.1 = entry.1.max(Some(item.scheduled_at));
        }
    }
    let pillars = pillars
        .into_iter()
        .map(|pillar| {
            let (count, last) = per_pillar.get(&pillar.id).copied().unwrap_or_default();
            let share = if posts > 0 { count as f64 / posts as f64 } else { 0.0 };
            PillarCoverage {
                posts: count,
                share,
                target_share: pillar.target_share,
                gap: share - pillar.target_share,
                last_post_at: last,
                silent: last.is_none_or(|l| l < silent_since),
                pillar,
            }
        })
        .collect();

    let mut crowded = Vec::new();
    let mut last_on: HashMap<&str, &content_item::Model> = HashMap::new();
    for item in planned.iter().filter(|i| in_period(i)) {
        if let Some(previous) = last_on.get(item.channel.as_str()) {
            let apart = (item.scheduled_at - previous.scheduled_at).num_minutes();
            if apart < min_gap_minutes {
                crowded.push(Crowding {
                    channel: item.channel.clone(),
                    first: (*previous).clone(),
                    second: (*item).clone(),
                    minutes_apart: apart,
                });
            }
        }
        last_on.insert(item.channel.as_str(), item);
    }
    let held = items
        .iter()
        .filter(|i| {
            in_period(i) && ContentStatus::parse(&i.status) == ContentStatus::OnHold && i.hold_alert_id.is_some()
        })
        .cloned()
        .collect();
    Ok(Coverage { posts, pillars, crowded, held })
}
