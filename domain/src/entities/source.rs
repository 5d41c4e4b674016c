//! Where a brand's mentions come from: a feed, hashtag, search or account to poll, or
//! `ingest` (mentions pushed through `POST /ingest/mentions`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "source")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    /// A [`crate::Network`] name.
    pub network: String,
    /// `feed`, `hashtag`, `search`, `account` or `ingest`.
    pub kind: String,
    pub target: String,
    /// The instance or API base URL (Mastodon instance, Bluesky AppView); none for feeds.
    pub endpoint: Option<String>,
    /// The agency's connection the source polls with; none: anonymously.
    pub connection_id: Option<Uuid>,
    pub poll_interval_secs: i32,
    pub enabled: bool,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub cursor: Option<Json>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub next_poll_at: Option<DateTimeUtc>,
    pub last_polled_at: Option<DateTimeUtc>,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub consecutive_failures: i32,
    pub healthy: bool,
    /// What the network's rate-limit headers said was left at the last poll, and when
    /// it resets.
    pub quota_remaining: Option<i32>,
    pub quota_resets_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
