//! A crisis alert of a brand: a negative spike or a gap between its stated values and
//! what people say, with the evidence that opened it and its lifecycle.

use sea_orm::entity::prelude::*;

/// Kind of an alert raised by a spike of negative mentions.
pub const NEGATIVE_SPIKE: &str = "negative_spike";
/// Kind of an alert raised by negative mentions touching a stated value.
pub const VALUE_GAP: &str = "value_gap";
/// Kind of an alert raised by calls to act against the brand (boycott, petition).
pub const MOBILISATION: &str = "mobilisation";
/// Kind of an alert raised by a spike of positive mentions.
pub const POSITIVE_SPIKE: &str = "positive_spike";
/// Every kind, in the order reports list them.
pub const KINDS: [&str; 4] = [NEGATIVE_SPIKE, VALUE_GAP, MOBILISATION, POSITIVE_SPIKE];

/// The kind a stored name stands for (an unknown one reads as a negative spike, the
/// first kind there was).
pub fn kind(name: &str) -> &'static str {
    KINDS.into_iter().find(|k| *k == name).unwrap_or(NEGATIVE_SPIKE)
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    /// One of [`KINDS`].
    pub kind: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// `open`, `acknowledged` or `resolved`.
    pub status: String,
    /// The stated value a `value_gap` alert is about.
    pub brand_value_id: Option<Uuid>,
    pub window_start: DateTimeUtc,
    pub window_end: DateTimeUtc,
    /// The latest detection figures (see `crises::Metrics`).
    #[sea_orm(column_type = "JsonBinary")]
    pub metrics: Json,
    /// Why it opened (see `crises::Explanation`).
    #[sea_orm(column_type = "JsonBinary")]
    pub explanation: Json,
    pub opened_at: DateTimeUtc,
    pub acknowledged_at: Option<DateTimeUtc>,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolution_note: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Unique while the alert is not resolved: one open alert per brand and kind.
    pub open_key: Option<String>,
    /// A manager's verdict: `confirmed` or `false_alarm`.
    pub verdict: Option<String>,
    pub verdict_note: Option<String>,
    pub judged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
