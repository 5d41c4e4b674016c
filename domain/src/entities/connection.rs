//! An agency's credentials on a network (see `connections`): sealed, never shown.
use super::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connection")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    /// The brand whose account it is; none: any brand of the agency may use it.
    pub brand_id: Option<Uuid>,
    /// A [`crate::Network`] name.
    pub network: String,
    /// `app_password`.
    pub kind: String,
    /// The account's name on the network (a Bluesky handle).
    pub account: String,
    /// The account's stable id on the network (a Bluesky DID).
    pub account_id: Option<String>,
    /// Where its requests go (a Bluesky PDS or entryway).
    pub endpoint: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub scopes: StringList,
    /// The credentials and tokens, sealed by [`crate::platform::vault`].
    pub secret: String,
    /// The vault key that sealed `secret`.
    pub key_id: String,
    /// Bumped whenever `secret` changes, so that two refreshes cannot both win.
    pub version: i32,
    /// When the access token expires.
    pub expires_at: Option<DateTimeUtc>,
    pub healthy: bool,
    pub consecutive_failures: i32,
    pub last_success_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// After a sign-in failed for a passing reason, when the next one may be tried.
    pub sign_in_after: Option<DateTimeUtc>,
    /// What the network's rate-limit headers said was left, and when it resets.
    pub quota_remaining: Option<i32>,
    pub quota_resets_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
