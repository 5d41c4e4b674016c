//! An answer to a ticket sent through a connection (see `sla::replies`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reply")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub ticket_id: Uuid,
    /// The connection it is sent with (cleared if the connection is deleted).
    pub connection_id: Option<Uuid>,
    /// Who asked for it.
    pub author_membership_id: Option<Uuid>,
    /// A [`crate::Network`] name.
    pub network: String,
    pub text: String,
    /// `pending`, `published` or `failed`.
    pub status: String,
    /// The record key chosen for it once, so that a retry cannot post it twice.
    pub record_key: String,
    pub attempts: i32,
    /// When the next attempt is due (a pending reply), or until when the attempt under
    /// way holds it.
    pub next_attempt_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// The published post's id on the network (a Bluesky `at://` URI).
    pub external_id: Option<String>,
    pub url: Option<String>,
    pub published_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
