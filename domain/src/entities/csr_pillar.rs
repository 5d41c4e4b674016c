//! A pillar of a brand's CSR strategy, with the share of posts it should get.
use super::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "csr_pillar")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub name: String,
    pub description: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub commitments: StringList,
    /// In [0, 1]: the share of the brand's posts this pillar should have.
    pub target_share: f64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
