//! The caller's agency.

use super::node::{NodeKind, global_id};
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::agencies;
use vigie_domain::entities::agency;

use super::{actor, services};

/// A communication agency: the tenant.
pub struct Agency(pub agency::Model);

#[Object]
impl Agency {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::Agency, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Where answers to the agency's emails go (`Reply-To`); they are sent from the
    /// instance's address under the agency's name.
    async fn sender_email(&self) -> Option<&str> {
        self.0.sender_email.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Changes to the agency.
#[derive(InputObject)]
pub struct UpdateAgencyInput {
    name: Option<String>,
    /// Null clears it.
    sender_email: MaybeUndefined<String>,
}

#[derive(Default)]
pub struct AgencyQuery;

#[Object]
impl AgencyQuery {
    /// The agency the caller acts in.
    async fn agency(&self, ctx: &Context<'_>) -> Result<Agency> {
        Ok(Agency(agencies::current(services(ctx), actor(ctx)?).await?))
    }
}

#[derive(Default)]
pub struct AgencyMutation;

#[Object]
impl AgencyMutation {
    /// Renames the agency or sets its email sender (owners and admins).
    async fn update_agency(&self, ctx: &Context<'_>, input: UpdateAgencyInput) -> Result<Agency> {
        let sender = input.sender_email.into();
        Ok(Agency(agencies::update(services(ctx), actor(ctx)?, input.name, sender).await?))
    }
}
