//! API keys: machine credentials for ingest, scoped to an agency or to one brand. The
//! secret is shown once at creation and stored as a hash.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entities::api_key;
use crate::platform::auth::secrets;
use crate::platform::pagination::{self, Page, PageRequest};
use crate::{Actor, Error, Result, Services, new_id, now, platform::audit, platform::validate};

/// What an API key authenticates as.
#[derive(Clone, Debug)]
pub struct KeyPrincipal {
    pub(crate) key_id: Uuid,
    pub(crate) agency_id: Uuid,
    /// `Some` when the key is limited to one brand.
    pub(crate) brand_id: Option<Uuid>,
}

/// Only [`authenticate`] makes one outside this crate.
impl KeyPrincipal {
    pub fn agency_id(&self) -> Uuid {
        self.agency_id
    }

    /// `Some` when the key is limited to one brand.
    pub fn brand_id(&self) -> Option<Uuid> {
        self.brand_id
    }
}

/// Creates a key; returns it with its secret, which is never shown again.
pub async fn create(
    services: &Services,
    actor: &Actor,
    name: &str,
    brand_id: Option<Uuid>,
) -> Result<(api_key::Model, String)> {
    actor.require_manager()?;
    let name = validate::name("name", name, 120)?;
    if let Some(brand_id) = brand_id {
        actor.brand(&services.db, brand_id).await?;
    }
    let secret = secrets::generate("vgk_");
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let key = api_key::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand_id),
        name: Set(name),
        prefix: Set(secret.plain.chars().take(10).collect()),
        secret_hash: Set(secret.hash),
        created_by: Set(Some(actor.user_id)),
        last_used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "api_key.created", "api_key", Some(key.id), serde_json::json!({ "name": key.name }))
        .await?;
    txn.commit().await?;
    Ok((key, secret.plain))
}

/// The agency's keys, revoked ones included (owners and admins).
pub async fn list(services: &Services, actor: &Actor, page: PageRequest) -> Result<Page<api_key::Model>> {
    actor.require_manager()?;
    let select = api_key::Entity::find().filter(api_key::Column::AgencyId.eq(actor.agency_id));
    pagination::fetch(&services.db, select, api_key::Column::Id, pagination::Direction::Ascending, page).await
}

/// Revokes a key; requests with it fail from now on.
pub async fn revoke(services: &Services, actor: &Actor, id: Uuid) -> Result<api_key::Model> {
    actor.require_manager()?;
    let key = api_key::Entity::find_by_id(id)
        .filter(api_key::Column::AgencyId.eq(actor.agency_id))
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("API key"))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let mut model: api_key::ActiveModel = key.into();
    model.revoked_at = Set(Some(now()));
    let key = model.update(&txn).await?;
    audit::record(&txn, actor, "api_key.revoked", "api_key", Some(key.id), serde_json::json!({ "name": key.name }))
        .await?;
    txn.commit().await?;
    Ok(key)
}

/// Authenticates a presented secret.
pub async fn authenticate(services: &Services, presented: &str) -> Result<KeyPrincipal> {
    let key = api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(secrets::hash(presented.trim())))
        .filter(api_key::Column::RevokedAt.is_null());
    let key = crate::platform::db::first(&services.db, key)
        .await?
        .ok_or_else(|| Error::Unauthenticated("invalid or revoked API key".into()))?;
    let principal = KeyPrincipal { key_id: key.id, agency_id: key.agency_id, brand_id: key.brand_id };
    let mut model: api_key::ActiveModel = key.into();
    model.last_used_at = Set(Some(now()));
    model.update(&services.db).await?;
    Ok(principal)
}
