//! Dead-lettered jobs as agency admins see them: their own agency's only.

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use crate::entities::job_failure;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::queue::{Envelope, KindStatus};
use crate::{Actor, Error, Result, Services, now};

/// The queue as an agency admin sees it: depth and lag per kind (shared by all
/// tenants), and the agency's own unresolved failures.
#[derive(Debug, Serialize)]
pub struct QueueStatus {
    pub kind: KindStatus,
    pub failures: u64,
}

/// Per-kind status for the actor's agency (owners and admins).
pub async fn status(services: &Services, actor: &Actor, kinds: &[String]) -> Result<Vec<QueueStatus>> {
    actor.require_manager()?;
    let statuses = services.queue.status(kinds).await?;
    let mut out = Vec::with_capacity(statuses.len());
    for kind in statuses {
        let failures = scoped(actor)
            .filter(job_failure::Column::Kind.eq(&kind.kind))
            .filter(job_failure::Column::ResolvedAt.is_null())
            .count(&services.db)
            .await?;
        out.push(QueueStatus { kind, failures });
    }
    Ok(out)
}

fn scoped(actor: &Actor) -> sea_orm::Select<job_failure::Entity> {
    job_failure::Entity::find().filter(job_failure::Column::AgencyId.eq(actor.agency_id))
}

/// The agency's failed jobs, unresolved ones only unless `include_resolved`.
pub async fn list(
    services: &Services,
    actor: &Actor,
    kind: Option<&str>,
    include_resolved: bool,
    page: PageRequest,
) -> Result<Page<job_failure::Model>> {
    actor.require_manager()?;
    let mut select = scoped(actor);
    if let Some(kind) = kind {
        select = select.filter(job_failure::Column::Kind.eq(kind));
    }
    if !include_resolved {
        select = select.filter(job_failure::Column::ResolvedAt.is_null());
    }
    pagination::fetch(&services.db, select, job_failure::Column::Id, pagination::Direction::Ascending, page).await
}

async fn get_open(services: &Services, actor: &Actor, id: Uuid) -> Result<job_failure::Model> {
    actor.require_manager()?;
    let failure = scoped(actor)
        .filter(job_failure::Column::Id.eq(id))
        .limit(1)
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("job failure"))?;
    if failure.resolved_at.is_some() {
        return Err(Error::bad_input("id", "this failure was already retried or discarded"));
    }
    Ok(failure)
}

/// Runs a failed job again, from its first attempt.
pub async fn retry(services: &Services, actor: &Actor, id: Uuid) -> Result<job_failure::Model> {
    retry_failure(services, get_open(services, actor, id).await?).await
}

/// Runs a failure the caller may see again, unless it is already resolved.
pub(crate) async fn retry_failure(services: &Services, failure: job_failure::Model) -> Result<job_failure::Model> {
    if failure.resolved_at.is_some() {
        return Err(Error::bad_input("id", "this failure was already retried or discarded"));
    }
    let envelope: Envelope = serde_json::from_value(failure.payload.clone())
        .map_err(|_| Error::bad_input("id", "this job cannot be decoded, so it cannot be retried; discard it"))?;
    // Resolve first (once, even under concurrent calls), then enqueue; undo on failure.
    let resolved = resolve(services, &failure, "retried").await?;
    if let Err(e) = services.queue.enqueue(&Envelope { attempt: 0, ..envelope }).await {
        job_failure::ActiveModel::from(failure).reset_all().update(&services.db).await?;
        return Err(e);
    }
    Ok(resolved)
}

/// Marks a failed job as dealt with.
pub async fn discard(services: &Services, actor: &Actor, id: Uuid) -> Result<job_failure::Model> {
    let failure = get_open(services, actor, id).await?;
    resolve(services, &failure, "discarded").await
}

/// Marks a failure resolved unless someone else just did.
async fn resolve(services: &Services, failure: &job_failure::Model, resolution: &str) -> Result<job_failure::Model> {
    let at = now();
    let updated = job_failure::Entity::update_many()
        .col_expr(job_failure::Column::ResolvedAt, Expr::value(at))
        .col_expr(job_failure::Column::Resolution, Expr::value(resolution))
        .filter(job_failure::Column::Id.eq(failure.id))
        .filter(job_failure::Column::ResolvedAt.is_null())
        .exec(&services.db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(Error::bad_input("id", "this failure was already retried or discarded"));
    }
    Ok(job_failure::Model { resolved_at: Some(at), resolution: Some(resolution.to_owned()), ..failure.clone() })
}
