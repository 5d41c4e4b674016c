//! A solicitation to answer, with its response SLA.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ticket")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub mention_id: Uuid,
    /// `urgent`, `high`, `normal` or `low`.
    pub priority: String,
    /// `open`, `answered` or `closed`.
    pub status: String,
    pub assignee_membership_id: Option<Uuid>,
    pub due_at: DateTimeUtc,
    /// 80 % of the target, in business time.
    pub at_risk_at: DateTimeUtc,
    pub first_response_at: Option<DateTimeUtc>,
    pub response_text: Option<String>,
    pub response_channel: Option<String>,
    pub breached: bool,
    /// Hidden from the default inbox until then (the SLA clock keeps running).
    pub snoozed_until: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub network: String,
    pub tier: String,
    /// `on_track`, `at_risk`, `breached` or `met`.
    pub sla_state: String,
    pub target_minutes: i32,
    /// Business minutes from the ticket's creation to the first response.
    pub first_response_minutes: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
