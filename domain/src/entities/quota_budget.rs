//! What is left of a network's daily quota that every connection shares (YouTube
//! counts units per Google Cloud project): platform state, no tenant.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "quota_budget")]
pub struct Model {
    /// A [`crate::Network`] name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub network: String,
    pub remaining: i32,
    pub resets_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
