//! The job queue as agency admins see it: status per kind and their failed jobs.

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use std::sync::LazyLock;
use vigie_domain::entities::job_failure;
use vigie_domain::platform::jobs::failures;

use super::pagination::{self, Cursor, uuid};
use super::{actor, services};

/// The kinds of Vigie's jobs.
static KINDS: LazyLock<Vec<String>> = LazyLock::new(|| vigie_domain::job_registry().kinds());

/// One job kind's queue.
#[derive(SimpleObject)]
pub struct QueueKindStatus {
    kind: String,
    /// Jobs waiting or running (all agencies).
    depth: u64,
    /// Jobs waiting for a retry (all agencies).
    delayed: u64,
    /// Age of the oldest waiting job, in seconds.
    lag_seconds: f64,
    /// This agency's failed jobs not yet retried or discarded.
    failures: u64,
}

/// A job that exhausted its attempts or could not run.
pub struct JobFailure(pub job_failure::Model);

#[Object]
impl JobFailure {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::JobFailure, self.0.id)
    }
    async fn job_id(&self) -> &str {
        &self.0.job_id
    }
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    /// Why it failed.
    async fn error(&self) -> &str {
        &self.0.error
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// The job as queued.
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(self.0.payload.clone())
    }
    async fn failed_at(&self) -> DateTime<Utc> {
        self.0.failed_at
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    /// `retried` or `discarded`.
    async fn resolution(&self) -> Option<&str> {
        self.0.resolution.as_deref()
    }
}

#[derive(Default)]
pub struct QueueQuery;

#[Object]
impl QueueQuery {
    /// Depth, lag and this agency's failures per job kind (owners and admins).
    #[graphql(complexity = "super::limits::AGGREGATE + child_complexity")]
    async fn queue_status(&self, ctx: &Context<'_>) -> Result<Vec<QueueKindStatus>> {
        let statuses = failures::status(services(ctx), actor(ctx)?, &KINDS).await?;
        Ok(statuses
            .into_iter()
            .map(|s| QueueKindStatus {
                kind: s.kind.kind,
                depth: s.kind.depth,
                delayed: s.kind.delayed,
                lag_seconds: s.kind.lag_seconds,
                failures: s.failures,
            })
            .collect())
    }

    /// This agency's failed jobs (owners and admins).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn job_failures(
        &self,
        ctx: &Context<'_>,
        kind: Option<String>,
        #[graphql(default)] include_resolved: bool,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, JobFailure>> {
        let had_cursor = after.is_some();
        let request = pagination::request(first, after)?;
        let page = failures::list(services(ctx), actor(ctx)?, kind.as_deref(), include_resolved, request).await?;
        Ok(pagination::connection(page, had_cursor, |f| Cursor(f.id), JobFailure))
    }
}

#[derive(Default)]
pub struct QueueMutation;

#[Object]
impl QueueMutation {
    /// Runs a failed job again from its first attempt.
    async fn retry_job(&self, ctx: &Context<'_>, id: ID) -> Result<JobFailure> {
        Ok(JobFailure(failures::retry(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }

    /// Marks a failed job as dealt with.
    async fn discard_job(&self, ctx: &Context<'_>, id: ID) -> Result<JobFailure> {
        Ok(JobFailure(failures::discard(services(ctx), actor(ctx)?, uuid("id", &id)?).await?))
    }
}
