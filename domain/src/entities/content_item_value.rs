//! A brand value a content item speaks to.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "content_item_value")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub content_item_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub brand_value_id: Uuid,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
