//! A competitor a brand measures itself against: what names it in a post.
use super::{Handles, StringList};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "competitor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub name: String,
    /// Its products and other words that name it; matching ignores case and accents.
    #[sea_orm(column_type = "JsonBinary")]
    pub keywords: StringList,
    #[sea_orm(column_type = "JsonBinary")]
    pub handles: Handles,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
