//! SeaORM entities for the tables the services use. Every tenant-owned entity carries
//! `agency_id`; services filter on it from the authenticated actor, never from input.

pub mod agency;
pub mod alert;
pub mod alert_event;
pub mod alert_mention;
pub mod api_key;
pub mod audit_log;
pub mod author;
pub mod brand;
pub mod brand_influencer;
pub mod brand_value;
pub mod competitor;
pub mod connection;
pub mod content_comment;
pub mod content_item;
pub mod content_item_pillar;
pub mod content_item_value;
pub mod content_review;
pub mod csr_pillar;
pub mod email_outbox;
pub mod event;
pub mod idea;
pub mod influencer_stale;
pub mod interaction;
pub mod invitation;
pub mod job_failure;
pub mod membership;
pub mod membership_brand;
pub mod mention;
pub mod mention_competitor;
pub mod notification;
pub mod notification_preference;
pub mod oauth_grant;
pub mod on_call_shift;
pub mod quota_budget;
pub mod refresh_token;
pub mod reply;
pub mod reply_template;
pub mod report_share;
pub mod sla_policy;
pub mod source;
pub mod ticket;
pub mod user_account;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// A list of strings stored as JSON (keywords, brand ids…).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct StringList(pub Vec<String>);

/// A list of UUIDs stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct UuidList(pub Vec<uuid::Uuid>);

/// How a mention speaks of each stated value it touches, stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct ValueStances(pub Vec<ValueReading>);

/// How a mention speaks of one stated value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueStance {
    /// Says the brand fails the value.
    Accuses,
    /// Speaks well of the brand on the value.
    Praises,
    /// Touches the value's words without either.
    Mentions,
}

impl ValueStance {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueStance::Accuses => "accuses",
            ValueStance::Praises => "praises",
            ValueStance::Mentions => "mentions",
        }
    }
}

/// The stance of a mention on one value, with the folded words that decided it (the
/// value's term first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueReading {
    pub value_id: uuid::Uuid,
    pub stance: ValueStance,
    pub cues: Vec<String>,
}

/// Days between contacts per influencer tier name, stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Cadence(pub std::collections::BTreeMap<String, i32>);

/// A brand's account on one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handle {
    pub network: crate::Network,
    pub handle: String,
}

/// A brand's accounts, stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Handles(pub Vec<Handle>);

/// Status of a webhook delivery (`webhook_delivery.status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// An attempt is in flight.
    Sending,
    Delivered,
    /// Every attempt failed (or the endpoint was disabled); replayable.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> DeliveryStatus {
        match raw {
            "sending" => DeliveryStatus::Sending,
            "delivered" => DeliveryStatus::Delivered,
            "failed" => DeliveryStatus::Failed,
            _ => DeliveryStatus::Pending,
        }
    }
}

/// How serious an alert is, from its z-score, its reach and its authors' tiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Severity {
        match raw {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            _ => Severity::Low,
        }
    }

    /// One level up, capped at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}
