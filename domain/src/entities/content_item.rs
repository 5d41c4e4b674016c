//! A post of the CSR content calendar.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "content_item")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub channel: String,
    pub title: String,
    pub body: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub media: Json,
    pub scheduled_at: DateTimeUtc,
    /// `draft`, `in_review`, `approved`, `scheduled`, `published`, `rejected`, `on_hold`.
    pub status: String,
    pub published_url: Option<String>,
    /// The value-gap alert that put it on hold.
    pub hold_alert_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
