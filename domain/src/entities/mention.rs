//! Something published about a brand.
use super::{UuidList, ValueStances};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mention")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub source_id: Uuid,
    pub external_id: String,
    pub author_id: Option<Uuid>,
    pub network: String,
    pub url: Option<String>,
    pub text: String,
    pub lang: Option<String>,
    pub published_at: DateTimeUtc,
    pub collected_at: DateTimeUtc,
    /// In [-1, 1], once scored.
    pub sentiment: Option<f64>,
    /// In [0, 1]: how much the mention is about the brand.
    pub relevance: Option<f64>,
    pub likes: i64,
    pub shares: i64,
    pub replies: i64,
    pub views: i64,
    /// Ids of the brand values the mention touches, once scored.
    #[sea_orm(column_type = "JsonBinary")]
    pub value_tags: UuidList,
    /// How it speaks of each of those values, once scored.
    #[sea_orm(column_type = "JsonBinary")]
    pub value_stances: ValueStances,
    /// Whether it accuses the brand of failing one of them.
    pub accuses_value: bool,
    /// Whether it is about the brand: false when it names only competitors (it then
    /// opens no ticket or alert and counts for no influencer of the brand).
    pub about_brand: bool,
    /// Whether it calls to act against the brand (boycott, petition, "stop buying").
    pub mobilises: bool,
    /// Addresses the brand and asks or complains, once scored.
    pub is_solicitation: bool,
    pub in_reply_to: Option<String>,
    /// The handle of the account the reply answers, as the network names it.
    pub in_reply_to_author: Option<String>,
    pub is_direct: bool,
    /// A review's stars (1 to 5).
    pub rating: Option<i16>,
    pub scored_at: Option<DateTimeUtc>,
    /// The author's follower count as the mention came with it (collector or pusher);
    /// kept here because authors are shared by every tenant.
    pub author_followers: Option<i64>,
    /// The words of the text folded (lower case, no accents) and joined by spaces, for search.
    pub search_text: String,
    /// `low`, `normal`, `high` or `urgent` for a solicitation.
    pub solicitation_priority: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
