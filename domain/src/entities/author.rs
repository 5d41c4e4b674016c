//! A public profile on a network, shared by all tenants.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "author")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub network: String,
    pub handle: String,
    pub display_name: Option<String>,
    pub profile_url: Option<String>,
    pub bio: Option<String>,
    pub followers: i64,
    pub following: i64,
    pub posts_count: Option<i64>,
    pub verified: bool,
    /// When the account was made, as its network says (collectors that can tell).
    pub account_created_at: Option<DateTimeUtc>,
    /// When Vigie first saw the author.
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
