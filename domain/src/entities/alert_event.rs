//! One step of an alert's timeline: opened, evidence added, severity raised,
//! acknowledged, resolved, reopened, content put on hold.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "alert_event")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub alert_id: Uuid,
    pub kind: String,
    /// Who did it; `None` for detection.
    pub actor_user_id: Option<Uuid>,
    #[sea_orm(column_type = "JsonBinary")]
    pub detail: Json,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
