//! Where an agency receives events, signed with its secret.
use super::{StringList, UuidList};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    /// Event types delivered; empty: all.
    #[sea_orm(column_type = "JsonBinary")]
    pub event_types: StringList,
    /// Brands whose events are delivered; empty: all.
    #[sea_orm(column_type = "JsonBinary")]
    pub brand_ids: UuidList,
    pub enabled: bool,
    /// `whsec_` and the base64 key.
    pub secret: String,
    /// The secret before the last rotation, still signing until it expires.
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// Since when every attempt failed; cleared by a success.
    pub failing_since: Option<DateTimeUtc>,
    pub disabled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
