//! Retention: the rows Vigie's machinery writes as it works are deleted once they are
//! older than `VIGIE_RETENTION_DAYS` (30 by default), by the hourly `retention.prune`
//! job, so that these tables stop growing with time:
//!
//! - events dispatched before the cutoff, once none of their webhook deliveries is still
//!   pending or being sent; their deliveries and attempts go with them (foreign keys),
//!   so a delivery can be replayed for as long as the retention;
//! - emails queued before the cutoff and since sent, logged or failed;
//! - refresh tokens expired before the cutoff (a token is refused once expired, so
//!   deleting it changes no answer).
//!
//! What users write or must be able to trace (mentions, influencers, tickets, alerts and
//! their history, the audit log, dead-lettered jobs) is never deleted here.
//!
//! Each table is pruned in batches of [`BATCH`] rows, each its own statement, in the
//! order of an index: a backlog of months after an upgrade never holds a long transaction or a
//! lock on many rows, and an interrupted run leaves nothing half done. A run stops
//! batching at half the jobs' visibility timeout and enqueues its own continuation, so
//! a large backlog drains over several jobs rather than one cut off by the runtime.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::System;
use crate::entities::DeliveryStatus;
use crate::platform::db::Params;
use crate::platform::jobs::Registry;
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Result, Services, now};

/// Rows deleted per statement.
pub(crate) const BATCH: u64 = 1_000;

/// How often the job runs: often enough that each run deletes about an hour's worth.
const EVERY: Duration = Duration::from_secs(3600);

/// Deletes what is past retention.
#[derive(Debug, Serialize, Deserialize)]
pub struct PruneExpired {}

impl JobPayload for PruneExpired {
    const KIND: &'static str = "retention.prune";
}

/// Registers the job and its hourly schedule.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: PruneExpired| async move {
        // A retention longer than the calendar allows keeps everything.
        let cutoff =
            chrono::Duration::from_std(services.config.retention).ok().and_then(|d| now().checked_sub_signed(d));
        let Some(cutoff) = cutoff else { return Ok(()) };
        let deadline = Instant::now() + services.config.job_visibility / 2;
        if !prune(System::new(), &services.db, cutoff, deadline).await?.finished {
            crate::platform::jobs::enqueue(&services, None, &PruneExpired {}).await?;
        }
        Ok(())
    });
    registry.schedule("retention.prune", EVERY, |_slot| Envelope::new(None, &PruneExpired {}));
}

/// What one pass deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pruned {
    /// Events (their deliveries and attempts went with them).
    pub events: u64,
    pub emails: u64,
    pub refresh_tokens: u64,
    /// Whether nothing past retention is left (the deadline did not cut the pass short).
    pub finished: bool,
}

/// Deletes the events, emails and refresh tokens past `cutoff` (see the module doc),
/// starting no batch after `deadline` but one per table: each pass makes progress.
pub async fn prune(_: System, db: &impl ConnectionTrait, cutoff: DateTime<Utc>, deadline: Instant) -> Result<Pruned> {
    let unsettled = [DeliveryStatus::Pending, DeliveryStatus::Sending].map(|s| format!("'{}'", s.as_str())).join(", ");
    // The subqueries take each batch in the order of an index (`event (dispatched_at,
    // created_at)`, `email_outbox (status, created_at)`, `refresh_token (expires_at)`),
    // so a batch reads about as many rows as it deletes.
    let events = delete_in_batches(db, deadline, |p| {
        let at = p.bind(cutoff);
        format!(
            "DELETE FROM event WHERE id IN (SELECT e.id FROM event e WHERE e.dispatched_at < {at} \
             AND NOT EXISTS (SELECT 1 FROM webhook_delivery d WHERE d.event_id = e.id AND d.status IN ({unsettled})) \
             ORDER BY e.dispatched_at LIMIT {BATCH})"
        )
    })
    .await?;
    let emails = delete_in_batches(db, deadline, |p| {
        let at = p.bind(cutoff);
        format!(
            "DELETE FROM email_outbox WHERE id IN (SELECT id FROM email_outbox \
             WHERE status IN ('sent', 'logged', 'failed') AND created_at < {at} LIMIT {BATCH})"
        )
    })
    .await?;
    let refresh_tokens = delete_in_batches(db, deadline, |p| {
        let at = p.bind(cutoff);
        format!(
            "DELETE FROM refresh_token WHERE id IN (SELECT id FROM refresh_token WHERE expires_at < {at} \
             ORDER BY expires_at LIMIT {BATCH})"
        )
    })
    .await?;
    let finished = events.1 && emails.1 && refresh_tokens.1;
    let pruned = Pruned { events: events.0, emails: emails.0, refresh_tokens: refresh_tokens.0, finished };
    if pruned.events + pruned.emails + pruned.refresh_tokens > 0 {
        tracing::info!(
            %cutoff,
            events = pruned.events,
            emails = pruned.emails,
            refresh_tokens = pruned.refresh_tokens,
            finished,
            "rows past retention deleted"
        );
    }
    Ok(pruned)
}

/// Runs the delete that `sql` writes (binding its values in the [`Params`] it is given)
/// until a batch deletes fewer than [`BATCH`] rows, or the deadline passes; returns how
/// many it deleted in all, and whether it got to the end.
pub(crate) async fn delete_in_batches(
    db: &impl ConnectionTrait,
    deadline: Instant,
    sql: impl Fn(&mut Params) -> String,
) -> Result<(u64, bool)> {
    let mut total = 0;
    loop {
        let mut params = Params::new(db.get_database_backend());
        let sql = sql(&mut params);
        let deleted = db.execute_raw(params.statement(sql)).await?.rows_affected();
        total += deleted;
        if deleted < BATCH {
            return Ok((total, true));
        }
        if Instant::now() >= deadline {
            return Ok((total, false));
        }
    }
}
