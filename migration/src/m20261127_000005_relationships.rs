//! The relationship CRM:
//! - `brand.contact_cadence`: days between contacts per influencer tier, e.g.
//!   `{"macro": 30, "mega": 14}`, for influencers the agency is engaged or partnered
//!   with (an influencer's own `contact_cadence_days` overrides it).
//! - `brand_influencer.last_contact_at`: the latest interaction, from which the next
//!   contact is due.
//! - `brand_influencer.contact_reminded_at`: when the owner was last reminded, so the
//!   daily reminder is sent once a day even if the job runs twice.
//! - indexes for the overdue list and for ideas by influencer and status.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &str, &[&str]); 3] = [
    (
        "ix_brand_influencer_brand_id_next_contact_due_at_id",
        "brand_influencer",
        &["brand_id", "next_contact_due_at", "id"],
    ),
    (
        "ix_brand_influencer_owner_next_contact_due_at",
        "brand_influencer",
        &["owner_membership_id", "next_contact_due_at"],
    ),
    ("ix_idea_brand_influencer_id_status", "idea", &["brand_influencer_id", "status"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add("brand", json_binary("contact_cadence").default("{}").take())).await?;
        m.alter_table(add("brand_influencer", timestamp_with_time_zone_null("last_contact_at"))).await?;
        m.alter_table(add("brand_influencer", timestamp_with_time_zone_null("contact_reminded_at"))).await?;
        for (name, table, cols) in INDEXES {
            let mut index = Index::create().name(name).table(table).to_owned();
            for col in cols {
                index.col(*col);
            }
            m.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, table, _) in INDEXES {
            m.drop_index(Index::drop().name(name).table(table).to_owned()).await?;
        }
        let drop = |table: &'static str, col: &'static str| Table::alter().table(table).drop_column(col).to_owned();
        m.alter_table(drop("brand_influencer", "contact_reminded_at")).await?;
        m.alter_table(drop("brand_influencer", "last_contact_at")).await?;
        m.alter_table(drop("brand", "contact_cadence")).await?;
        Ok(())
    }
}
