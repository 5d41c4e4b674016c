//! A CSR pillar a content item serves.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "content_item_pillar")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub content_item_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub csr_pillar_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
