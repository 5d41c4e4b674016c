//! The agency's on-call rota: shifts of staff members. SLA escalations follow it: when a
//! ticket turns at risk or breached, the member on call then gets the escalation email
//! (beside the brand's contacts) and the ticket, if nobody has it and the member may
//! answer for the brand. Shifts of one agency never overlap, so there is one member on
//! call at a time, or none.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use crate::entities::{agency, membership, on_call_shift};
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit};

/// The longest shift, and the longest span listed at once.
pub const MAX_SHIFT_DAYS: i64 = 31;
pub const MAX_LIST_DAYS: i64 = 92;

/// The shifts overlapping `[from, to)`, earliest first (agency staff).
pub async fn shifts(
    services: &Services,
    actor: &Actor,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<on_call_shift::Model>> {
    actor.require_staff()?;
    if to <= from || to - from > Duration::days(MAX_LIST_DAYS) {
        return Err(Error::bad_input("to", format!("after `from`, at most {MAX_LIST_DAYS} days later")));
    }
    Ok(on_call_shift::Entity::find()
        .filter(on_call_shift::Column::AgencyId.eq(actor.agency_id))
        .filter(on_call_shift::Column::StartsAt.lt(to))
        .filter(on_call_shift::Column::EndsAt.gt(from))
        .order_by_asc(on_call_shift::Column::StartsAt)
        .all(&services.db)
        .await?)
}

/// Puts a staff member on call over `[starts_at, ends_at)` (owners and admins).
pub async fn add(
    services: &Services,
    actor: &Actor,
    member_id: Uuid,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> Result<on_call_shift::Model> {
    actor.require_manager()?;
    let member = crate::members::get(&services.db, actor, member_id).await?;
    let on_call = Actor::from_membership(&services.db, member.clone()).await?;
    if !on_call.is_staff() {
        return Err(Error::bad_input("memberId", "client viewers cannot be on call"));
    }
    if ends_at <= starts_at || ends_at - starts_at > Duration::days(MAX_SHIFT_DAYS) {
        return Err(Error::bad_input("endsAt", format!("after `startsAt`, at most {MAX_SHIFT_DAYS} days later")));
    }
    if ends_at <= now() {
        return Err(Error::bad_input("endsAt", "the shift is over already"));
    }
    let txn = crate::platform::db::begin_write(&services.db).await?;
    // Concurrent additions to one rota take turns on the agency's row (PostgreSQL;
    // SQLite has one writer at a time), so two overlapping shifts cannot both pass.
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        agency::Entity::find_by_id(actor.agency_id).lock_exclusive().one(&txn).await?;
    }
    let overlapping = on_call_shift::Entity::find()
        .filter(on_call_shift::Column::AgencyId.eq(actor.agency_id))
        .filter(on_call_shift::Column::StartsAt.lt(ends_at))
        .filter(on_call_shift::Column::EndsAt.gt(starts_at))
        .one(&txn)
        .await?;
    if let Some(other) = overlapping {
        return Err(Error::Conflict(format!("it overlaps the shift {} – {}", other.starts_at, other.ends_at)));
    }
    let shift = on_call_shift::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        membership_id: Set(member.id),
        starts_at: Set(starts_at),
        ends_at: Set(ends_at),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    let detail = serde_json::json!({ "memberId": member.id, "startsAt": starts_at, "endsAt": ends_at });
    audit::record(&txn, actor, "on_call.added", "on_call_shift", Some(shift.id), detail).await?;
    txn.commit().await?;
    Ok(shift)
}

/// Removes a shift (owners and admins).
pub async fn remove(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    actor.require_manager()?;
    let shift = on_call_shift::Entity::find_by_id(id)
        .filter(on_call_shift::Column::AgencyId.eq(actor.agency_id))
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("on-call shift"))?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    on_call_shift::Entity::delete_by_id(shift.id).exec(&txn).await?;
    audit::record(&txn, actor, "on_call.removed", "on_call_shift", Some(id), serde_json::json!({})).await?;
    txn.commit().await?;
    Ok(())
}

/// One shift of the actor's agency (node lookups), for staff.
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<on_call_shift::Model> {
    actor.require_staff()?;
    on_call_shift::Entity::find_by_id(id)
        .filter(on_call_shift::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .ok_or(Error::NotFound("on-call shift"))
}

/// The member on call in an agency at `at`, if any (its membership still there).
pub async fn on_call_at(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    at: DateTime<Utc>,
) -> Result<Option<membership::Model>> {
    let Some(shift) = on_call_shift::Entity::find()
        .filter(on_call_shift::Column::AgencyId.eq(agency_id))
        .filter(on_call_shift::Column::StartsAt.lte(at))
        .filter(on_call_shift::Column::EndsAt.gt(at))
        .order_by_asc(on_call_shift::Column::StartsAt)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(membership::Entity::find_by_id(shift.membership_id).one(db).await?)
}

/// The member on call now in the actor's agency (staff).
pub async fn now_on_call(services: &Services, actor: &Actor) -> Result<Option<membership::Model>> {
    actor.require_staff()?;
    on_call_at(&services.db, actor.agency_id, now()).await
}
