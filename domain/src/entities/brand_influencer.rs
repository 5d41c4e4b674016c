//! An author as one brand sees it: influence score and its components, tier, stance,
//! and (for the CRM) the relationship.
use super::StringList;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "brand_influencer")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub agency_id: Uuid,
    pub brand_id: Uuid,
    pub author_id: Uuid,
    /// 0–100.
    pub score: f64,
    /// [`crate::scoring::influence::Components`] as JSON.
    #[sea_orm(column_type = "JsonBinary")]
    pub components: Json,
    pub tier: String,
    pub stance: String,
    pub relationship_status: String,
    pub owner_membership_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary")]
    pub tags: StringList,
    pub notes: Option<String>,
    pub mention_count: i32,
    pub contact_cadence_days: Option<i32>,
    pub next_contact_due_at: Option<DateTimeUtc>,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the score first reached the brand's discovery threshold.
    pub discovered_at: Option<DateTimeUtc>,
    /// The latest interaction logged with the influencer.
    pub last_contact_at: Option<DateTimeUtc>,
    /// When the owner was last reminded of an overdue contact.
    pub contact_reminded_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Read with the row where a list shows the authors (one statement, not two).
    #[sea_orm(belongs_to = "super::author::Entity", from = "Column::AuthorId", to = "super::author::Column::Id")]
    Author,
}

impl Related<super::author::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Author.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
