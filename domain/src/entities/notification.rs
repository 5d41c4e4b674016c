//! One event told to one member on one chat channel (Slack or Teams), with its attempts.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub membership_id: Uuid,
    pub event_id: Uuid,
    /// `slack` or `teams`.
    pub channel: String,
    /// `pending`, `sent`, `failed`, or `cancelled` (the member no longer hears of it).
    pub status: String,
    pub attempts: i32,
    /// When to try (the end of quiet hours, or a retry's time); none once settled.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
