//! An OAuth 2 authorisation waiting for the network's callback, then for its manager
//! to complete it (see `connections::oauth`): single use, ten minutes a step.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grant")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    /// The brand the account will serve; none: any brand of the agency.
    pub brand_id: Option<Uuid>,
    /// The manager who started it; the callback acts as them.
    pub user_id: Uuid,
    /// A [`crate::Network`] name.
    pub network: String,
    /// SHA-256 of the `state` sent to the network, in hex: the state itself is a
    /// bearer credential for the callback and is not kept.
    pub state_hash: String,
    /// The PKCE code verifier, sealed by [`crate::platform::vault`].
    pub verifier: String,
    /// Once the network called back: SHA-256 of the ticket that completes it, in hex.
    pub ticket_hash: Option<String>,
    /// Once the network called back: the tokens and the account, sealed.
    pub consent: Option<String>,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
