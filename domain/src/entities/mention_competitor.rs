//! A competitor a mention names, with what share of voice reads of the mention.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mention_competitor")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub mention_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub competitor_id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub author_id: Option<Uuid>,
    pub network: String,
    pub published_at: DateTimeUtc,
    pub sentiment: Option<f64>,
    pub author_followers: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
