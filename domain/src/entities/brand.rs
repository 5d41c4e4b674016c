//! A client brand of an agency.
use super::{Cadence, Handles, StringList};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "brand")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub name: String,
    pub sector: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub tracked_keywords: StringList,
    #[sea_orm(column_type = "JsonBinary")]
    pub handles: Handles,
    /// IANA time zone name, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Language of reports and digests (`en` or `fr`).
    pub language: String,
    /// The influence score (0–100) at which an author is announced as discovered.
    pub discovery_threshold: i32,
    /// The z-score (against the brand's baseline) a negative spike must reach.
    pub crisis_z_threshold: f64,
    /// The negative mentions in the detection window a spike needs.
    pub crisis_min_count: i32,
    /// The fewest accusations of one value in a day that open a value-gap alert (the
    /// floor under the brand's own baseline).
    pub value_gap_min_count: i32,
    /// From which severity (`low` … `critical`) a value-gap alert holds calendar posts.
    pub hold_min_severity: String,
    /// Who is emailed when a crisis opens or worsens.
    #[sea_orm(column_type = "JsonBinary")]
    pub escalation_emails: StringList,
    /// Days between contacts per influencer tier (`{"macro": 30}`), for influencers the
    /// agency is engaged or partnered with.
    #[sea_orm(column_type = "JsonBinary")]
    pub contact_cadence: Cadence,
    /// `weekly`, `monthly` or `off`: the report emailed to the brand's client viewers.
    pub digest_frequency: String,
    /// The end of the last digest period sent.
    pub last_digest_at: Option<DateTimeUtc>,
    /// Months a mention is kept after its publication (`mentions.prune`).
    pub mention_retention_months: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
