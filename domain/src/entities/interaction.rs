//! A contact with an influencer, logged in the CRM.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interaction")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_influencer_id: Uuid,
    /// `email`, `dm`, `comment`, `call`, `meeting`, `event`, `gift` or `other`.
    pub channel: String,
    /// `inbound` (they reached out) or `outbound` (the agency did).
    pub direction: String,
    pub summary: String,
    pub occurred_at: DateTimeUtc,
    /// The user who logged it.
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
