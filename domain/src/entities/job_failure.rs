//! A job that exhausted its attempts (or could not be decoded), kept for admins to
//! inspect, retry or discard.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_failure")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The job's tenant; `None` for system jobs and undecodable messages.
    pub agency_id: Option<Uuid>,
    pub job_id: String,
    pub kind: String,
    /// The job's envelope (or, when undecodable, the raw message as a string).
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub error: String,
    pub attempts: i32,
    pub failed_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
    /// `retried` or `discarded`.
    pub resolution: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
