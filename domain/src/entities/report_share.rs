//! A share token: a client's read-only link to a report, or a calendar's iCal feed.
use super::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report_share")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    /// `report` or `calendar`.
    pub kind: String,
    /// SHA-256 of the token; the token itself is shown once.
    pub token_hash: String,
    pub period_from: Option<DateTimeUtc>,
    pub period_to: Option<DateTimeUtc>,
    #[sea_orm(column_type = "JsonBinary")]
    pub sections: StringList,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_accessed_at: Option<DateTimeUtc>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
