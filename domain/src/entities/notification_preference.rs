//! What one member wants to hear of, and where.
use super::{StringList, UuidList};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_preference")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub membership_id: Uuid,
    /// Event types (`platform::events::TYPES`).
    #[sea_orm(column_type = "JsonBinary")]
    pub event_types: StringList,
    /// Brands to hear of; empty: every brand the member sees.
    #[sea_orm(column_type = "JsonBinary")]
    pub brand_ids: UuidList,
    pub email: bool,
    /// Sealed incoming-webhook URLs (they are credentials).
    pub slack_url: Option<String>,
    pub teams_url: Option<String>,
    /// Quiet hours, minutes after local midnight; the window may cross midnight.
    pub quiet_from: Option<i16>,
    pub quiet_to: Option<i16>,
    pub time_zone: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
