//! Share tokens, the one mechanism behind report links and calendar feeds: 256 random
//! bits shown once and stored hashed ([`crate::platform::auth::secrets`]), scoped to one brand,
//! expiring (at most [`MAX_DAYS`] ahead, renewable), revocable, listed for managers
//! with who made them and when they were last opened. Unknown, revoked and expired
//! tokens are all the same "not found". Removing a member revokes the shares they made.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entities::{StringList, report_share};
use crate::platform::auth::secrets;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::{Actor, Error, Result, Services, new_id, now};

/// The longest a share lives before it must be renewed.
pub const MAX_DAYS: i64 = 366;
/// How long a calendar feed lives unless asked otherwise (and how long one made before
/// feeds expired lives after its creation).
pub const DEFAULT_FEED_DAYS: i64 = 90;

/// When a share stops working.
pub fn expiry(share: &report_share::Model) -> DateTime<Utc> {
    share.expires_at.unwrap_or(share.created_at + Duration::days(DEFAULT_FEED_DAYS))
}

/// `now + days`, for `days` within 1..=[`MAX_DAYS`].
pub fn expiry_in(field: &str, days: i64) -> Result<DateTime<Utc>> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::bad_input(field, format!("between 1 and {MAX_DAYS} days")));
    }
    Ok(now() + Duration::days(days))
}

/// Which of a brand's shares to list.
#[derive(Default)]
pub struct ShareFilter {
    /// `report` or `calendar`; `None`: both.
    pub kind: Option<&'static str>,
    /// Also the revoked ones (expired ones are always listed, they can be renewed).
    pub include_revoked: bool,
}

/// A brand's shares, oldest first (owners and admins).
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    filter: ShareFilter,
    page: PageRequest,
) -> Result<Page<report_share::Model>> {
    actor.require_manager()?;
    let brand = actor.brand(&services.db, brand_id).await?;
    let mut select = report_share::Entity::find()
        .filter(report_share::Column::AgencyId.eq(actor.agency_id))
        .filter(report_share::Column::BrandId.eq(brand.id));
    if let Some(kind) = filter.kind {
        select = select.filter(report_share::Column::Kind.eq(kind));
    }
    if !filter.include_revoked {
        select = select.filter(report_share::Column::RevokedAt.is_null());
    }
    pagination::fetch(&services.db, select, report_share::Column::Id, pagination::Direction::Ascending, page).await
}

/// Revokes the live shares `user_id` made in the agency, but those of the brands in
/// `kept` (they left the agency: none kept; they lost brands: the ones they still see);
/// returns how many.
pub(crate) async fn revoke_made_by(
    db: &impl ConnectionTrait,
    agency_id: Uuid,
    user_id: Uuid,
    kept: &[Uuid],
) -> Result<u64> {
    let mut update = report_share::Entity::update_many()
        .col_expr(report_share::Column::RevokedAt, Expr::value(now()))
        .filter(report_share::Column::AgencyId.eq(agency_id))
        .filter(report_share::Column::CreatedBy.eq(user_id))
        .filter(report_share::Column::RevokedAt.is_null());
    if !kept.is_empty() {
        update = update.filter(report_share::Column::BrandId.is_not_in(kept.iter().copied()));
    }
    Ok(update.exec(db).await?.rows_affected)
}

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
pub(crate) async fn create(db: &impl ConnectionTrait, share: NewShare) -> Result<(report_share::Model, String)> {
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
    let share = find(services, actor, id, Some(kind), what).await?;
    let mut model: report_share::ActiveModel = share.into();
    model.revoked_at = Set(Some(now()));
    Ok(model.update(&services.db).await?)
}

/// Moves a share's expiry to `days` from now, keeping its token (a calendar application
/// keeps its subscription); owners, admins and the share's creator only. A revoked
/// share stays revoked.
pub async fn renew(services: &Services, actor: &Actor, id: Uuid, days: i64) -> Result<report_share::Model> {
    let expires_at = expiry_in("expiresInDays", days)?;
    let share = find(services, actor, id, None, "share").await?;
    if !actor.role.is_manager() && share.created_by != Some(actor.user_id) {
        return Err(Error::forbidden("only owners, admins and the share's creator may renew it"));
    }
    if share.revoked_at.is_some() {
        return Err(Error::Conflict("this share was revoked: create a new one".into()));
    }
    let mut model: report_share::ActiveModel = share.into();
    model.expires_at = Set(Some(expires_at));
    Ok(model.update(&services.db).await?)
}

/// A share (of `kind`, if given) that the actor, agency staff who see its brand, may
/// change.
async fn find(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    kind: Option<&str>,
    what: &'static str,
) -> Result<report_share::Model> {
    actor.require_staff()?;
    let mut select = report_share::Entity::find_by_id(id).filter(report_share::Column::AgencyId.eq(actor.agency_id));
    if let Some(kind) = kind {
        select = select.filter(report_share::Column::Kind.eq(kind));
    }
    select.one(&services.db).await?.filter(|s| actor.sees_brand(s.brand_id)).ok_or(Error::NotFound(what))
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
    let share = crate::platform::db::first(db, share)
        .await?
        .filter(|s| s.revoked_at.is_none() && expiry(s) > now())
        .ok_or(Error::NotFound(what))?;
    let mut model: report_share::ActiveModel = share.into();
    model.last_accessed_at = Set(Some(now()));
    Ok(model.update(db).await?)
}
