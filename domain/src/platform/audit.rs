//! The audit trail of sensitive actions (members, keys, brands).

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use uuid::Uuid;

use crate::entities::audit_log;
use crate::{Actor, Result, new_id, now};

/// Records that `actor` did `action` to an object.
pub async fn record(
    db: &impl ConnectionTrait,
    actor: &Actor,
    action: &str,
    target_type: &str,
    target_id: Option<Uuid>,
    detail: serde_json::Value,
) -> Result<()> {
    insert(db, actor.agency_id, Some(actor.user_id), action, target_type, target_id, detail).await
}

/// Records that the operator (`vigie-api admin`, acting for no user) did `action` to an
/// object of `agency_id`.
pub(crate) async fn record_by_operator(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    action: &str,
    target_type: &str,
    target_id: Option<Uuid>,
    detail: serde_json::Value,
) -> Result<()> {
    insert(db, agency_id, None, action, target_type, target_id, detail).await
}

async fn insert(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    actor_user_id: Option<Uuid>,
    action: &str,
    target_type: &str,
    target_id: Option<Uuid>,
    detail: serde_json::Value,
) -> Result<()> {
    audit_log::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(agency_id),
        actor_user_id: Set(actor_user_id),
        action: Set(action.to_owned()),
        target_type: Set(target_type.to_owned()),
        target_id: Set(target_id),
        detail: Set(detail),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok(())
}
