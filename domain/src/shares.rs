//! Share tokens, the one mechanism behind report links and calendar feeds: 256 random
//! bits shown once and stored hashed ([`crate::auth::secrets`]), scoped to one brand,
//! optionally expiring, revocable. Unknown, revoked and expired tokens are all the same
//! "not found".

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::auth::secrets;
use crate::entities::{StringList, report_share};
use crate::{Actor, Error, Result, Services, new_id, now};

/// A share to create.
pub struct NewShare {
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    /// `report` or `calendar`.
    pub kind: &'static str,
    /// The token's prefix (`vgs_`, `vgc_`), so leaked tokens are recognisable.
    pub prefix: &'static str,
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub sections: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` when Vigie creates it (a digest's link).
    pub created_by: Option<Uuid>,
}

/// Stores a share; returns it and its token, shown once.
pub async fn create(db: &impl ConnectionTrait, share: NewShare) -> Result<(report_share::Model, String)> {
    let secret = secrets::generate(share.prefix);
    let row = report_share::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(share.agency_id),
        brand_id: Set(share.brand_id),
        kind: Set(share.kind.into()),
        token_hash: Set(secret.hash),
        period_from: Set(share.period.map(|p| p.0)),
        period_to: Set(share.period.map(|p| p.1)),
        sections: Set(StringList(share.sections)),
        expires_at: Set(share.expires_at),
        revoked_at: Set(None),
        last_accessed_at: Set(None),
        created_by: Set(share.created_by),
        created_at: Set(now()),
    }
    .insert(db)
    .await?;
    Ok((row, secret.plain))
}

/// Revokes a share of `kind` (agency staff who see its brand); `what` names it in errors.
pub async fn revoke(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    kind: &str,
    what: &'static str,
) -> Result<report_share::Model> {
    actor.require_staff()?;
    let share = report_share::Entity::find_by_id(id)
        .filter(report_share::Column::AgencyId.eq(actor.agency_id))
        .filter(report_share::Column::Kind.eq(kind))
        .one(&services.db)
        .await?
        .filter(|s| actor.sees_brand(s.brand_id))
        .ok_or(Error::NotFound(what))?;
    let mut model: report_share::ActiveModel = share.into();
    model.revoked_at = Set(Some(now()));
    Ok(model.update(&services.db).await?)
}

/// The live share of `kind` behind a token (not revoked, not expired), noting the access.
pub async fn open(
    db: &impl ConnectionTrait,
    token: &str,
    kind: &str,
    what: &'static str,
) -> Result<report_share::Model> {
    let share = report_share::Entity::find()
        .filter(report_share::Column::TokenHash.eq(secrets::hash(token)))
        .filter(report_share::Column::Kind.eq(kind));
    let share = crate::db::first(db, share)
        .await?
        .filter(|s| s.revoked_at.is_none() && s.expires_at.is_none_or(|e| e > now()))
        .ok_or(Error::NotFound(what))?;
    let mut model: report_share::ActiveModel = share.into();
    model.last_accessed_at = Set(Some(now()));
    Ok(model.update(db).await?)
}
