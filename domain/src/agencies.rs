//! The caller's agency.

use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QuerySelect, Set};

use crate::entities::agency;
use crate::{Actor, Error, Result, Services, now, platform::validate};

/// Locks the agency's row until the transaction `txn` ends, so that the agency's quota
/// checks (invitations, sources) run one at a time: none passes a count another has not
/// written yet. PostgreSQL only; SQLite's write transactions are serial already.
pub(crate) async fn lock(txn: &impl ConnectionTrait, agency_id: uuid::Uuid) -> Result<()> {
    agency::Entity::find_by_id(agency_id).lock_exclusive().one(txn).await?;
    Ok(())
}

/// The actor's agency.
pub async fn current(services: &Services, actor: &Actor) -> Result<agency::Model> {
    agency::Entity::find_by_id(actor.agency_id).one(&services.db).await?.ok_or(Error::NotFound("agency"))
}

/// Renames the agency or sets its email sender (owners and admins).
pub async fn update(
    services: &Services,
    actor: &Actor,
    name: Option<String>,
    sender_email: Option<Option<String>>,
) -> Result<agency::Model> {
    actor.require_manager()?;
    let mut model: agency::ActiveModel = current(services, actor).await?.into();
    if let Some(name) = name {
        model.name = Set(validate::name("name", &name, 120)?);
    }
    if let Some(sender) = sender_email {
        model.sender_email = Set(match sender.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(raw) => Some(validate::email("senderEmail", raw)?),
        });
    }
    model.updated_at = Set(now());
    Ok(model.update(&services.db).await?)
}
