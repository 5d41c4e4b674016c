//! Response targets and business hours, for a brand or as an agency's default.
use super::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sla_policy")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    /// `None`: the agency's default policy.
    pub brand_id: Option<Uuid>,
    /// Minutes per priority: `{"urgent": 30, "high": 120, "normal": 480, "low": 1440}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub targets: Json,
    /// Tighter minutes per tier and priority: `{"macro": {"urgent": 15}}`.
    #[sea_orm(column_type = "JsonBinary")]
    pub tier_targets: Json,
    /// `[[weekday (0 = Monday), start minute, end minute], …]`.
    #[sea_orm(column_type = "JsonBinary")]
    pub business_hours: Json,
    /// Local dates, `YYYY-MM-DD`.
    #[sea_orm(column_type = "JsonBinary")]
    pub holidays: StringList,
    pub always_open: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub escalation_contacts: StringList,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub scope_key: Option<String>,
    /// Overrides the brand's time zone.
    pub time_zone: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
