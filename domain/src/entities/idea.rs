//! An improvement idea an influencer raised.
use super::UuidList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idea")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_influencer_id: Uuid,
    pub title: String,
    pub detail: String,
    /// `proposed`, `accepted`, `shipped` or `rejected`.
    pub status: String,
    /// Whether the influencer was told what became of it.
    pub reported_back: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub linked_mention_ids: UuidList,
    #[sea_orm(column_type = "JsonBinary")]
    pub linked_interaction_ids: UuidList,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
