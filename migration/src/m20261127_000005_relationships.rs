//! The relationship CRM:
//! - `brand.contact_cadence`: days between contacts per influencer tier, e.g.
//!   `{"macro": 30, "mega": 14}`, for influencers the agency is engaged or partnered
//!   with (an influencer's own `contact_cadence_days` overrides it).
//! - `brand_influencer.last_contact_at`: the latest interaction, from which the next
//!   contact is due.
//! - `brand_influencer.contact_reminded_at`: when the owner was last reminded, so the
//!   daily reminder is sent once a day even if the job runs twice.
//! - indexes for the overdue list and for ideas by influencer and status.

use crate::builder::{NamedIndex, create_indexes, drop_indexes};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [NamedIndex; 3] = [
    (
        "ix_brand_influencer_brand_id_next_contact_due_at_id",
        "brand_influencer",
        &["brand_id", "next_contact_due_at", "id"],
        false,
    ),
    (
        "ix_brand_influencer_owner_next_contact_due_at",
        "brand_influencer",
        &["owner_membership_id", "next_contact_due_at"],
        false,
    ),
    ("ix_idea_brand_influencer_id_status", "idea", &["brand_influencer_id", "status"], false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add("brand", json_binary("contact_cadence").default("{}").take())).await?;
        m.alter_table(add("brand_influencer", timestamp_with_time_zone_null("last_contact_at"))).await?;
        m.alter_table(add("brand_influencer", timestamp_with_time_zone_null("contact_reminded_at"))).await?;
        create_indexes(m, &INDEXES).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &INDEXES).await?;
        let drop = |table: &'static str, col: &'static str| Table::alter().table(table).drop_column(col).to_owned();
        m.alter_table(drop("brand_influencer", "contact_reminded_at")).await?;
        m.alter_table(drop("brand_influencer", "last_contact_at")).await?;
        m.alter_table(drop("brand", "contact_cadence")).await?;
        Ok(())
    }
}
