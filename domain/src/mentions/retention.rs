//! Mentions are kept for their brand's `mention_retention_months` after publication (24
//! by default), then deleted by the hourly `mentions.prune` job, with what exists only
//! for them: their tickets (whose subject is the mention's text) and their places in
//! alerts' evidence. Alerts, influencers, the CRM and the audit trail
//! stay: they are the brand's history, not copies of what people wrote.
//!
//! Deletion goes a batch at a time in the order of the `(brand_id, published_at)` index,
//! each batch its own statement, and a run hands over to a new job of its own at half
//! the jobs' visibility timeout, so a first run after years holds no long lock.

use chrono::{DateTime, Months, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::System;
use crate::entities::brand;
use crate::platform::jobs::Registry;
use crate::platform::queue::{Envelope, JobPayload};
use crate::platform::retention::{BATCH, delete_in_batches};
use crate::{Result, Services, now};

/// How often the job runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes the mentions past their brand's retention.
#[derive(Debug, Serialize, Deserialize)]
pub struct PruneMentions {}

impl JobPayload for PruneMentions {
    const KIND: &'static str = "mentions.prune";
}

pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: PruneMentions| async move {
        let deadline = Instant::now() + services.config.job_visibility / 2;
        if !prune(System::new(), &services.db, now(), deadline).await?.finished {
            crate::platform::jobs::enqueue(&services, None, &PruneMentions {}).await?;
        }
        Ok(())
    });
    registry.schedule("mentions.prune", EVERY, |_slot| Envelope::new(None, &PruneMentions {}));
}

/// What a run deleted, and whether it got through every brand before `deadline`.
#[derive(Debug, PartialEq, Eq)]
pub struct Pruned {
    pub mentions: u64,
    pub finished: bool,
}

/// The publication time before which a brand's mentions go, at `at`.
pub fn cutoff(months: i32, at: DateTime<Utc>) -> DateTime<Utc> {
    at.checked_sub_months(Months::new(months.max(0) as u32)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Deletes, brand by brand, the mentions published before the brand's retention ends,
/// until done or `deadline`.
pub async fn prune(_: System, db: &impl ConnectionTrait, at: DateTime<Utc>, deadline: Instant) -> Result<Pruned> {
    let brands: Vec<(Uuid, i32)> = brand::Entity::find()
        .select_only()
        .column(brand::Column::Id)
        .column(brand::Column::MentionRetentionMonths)
        .into_tuple()
        .all(db)
        .await?;
    let mut mentions = 0;
    for (brand_id, months) in brands {
        if Instant::now() >= deadline {
            return Ok(Pruned { mentions, finished: false });
        }
        let before = cutoff(months, at);
        // Tickets and evidence links go by their foreign keys.
        let (deleted, finished) = delete_in_batches(db, deadline, |p| {
            let (brand, before) = (p.bind(brand_id), p.bind(before));
            format!(
                "DELETE FROM mention WHERE id IN (SELECT id FROM mention WHERE brand_id = {brand} \
                 AND published_at < {before} ORDER BY published_at LIMIT {BATCH})"
            )
        })
        .await?;
        mentions += deleted;
        if !finished {
            return Ok(Pruned { mentions, finished: false });
        }
    }
    if mentions > 0 {
        tracing::info!(mentions, "mentions past their brand's retention deleted");
    }
    Ok(Pruned { mentions, finished: true })
}
