//! The outbox: a state change others react to, written in the transaction that made it.
//! Fan-out (webhooks, subscriptions, email) reads undispatched rows.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Option<Uuid>,
    /// `influencer.discovered`, `source.unhealthy`, `mention.solicitation`…
    pub kind: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub payload: Json,
    pub created_at: DateTimeUtc,
    pub dispatched_at: Option<DateTimeUtc>,
    /// The `traceparent` of the work that recorded it (`None` when traces are off).
    pub trace_parent: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
