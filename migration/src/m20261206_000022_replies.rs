//! `reply`: an answer to a ticket sent through a connection, from the moment it is
//! asked for to its publication (or refusal) on the network; and
//! `connection.sign_in_after`, when a connection may sign in again after a failure.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, run_batch, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let column = timestamp_with_time_zone_null("sign_in_after");
        m.alter_table(Table::alter().table("connection").add_column(column).to_owned()).await?;
        table("reply")
            .tenant()
            .reference("brand_id", "brand", false, OnDelete::Cascade)
            .reference("ticket_id", "ticket", false, OnDelete::Cascade)
            .reference("connection_id", "connection", true, OnDelete::SetNull)
            .reference("author_membership_id", "membership", true, OnDelete::SetNull)
            .col(string("network"))
            .col(text("text"))
            .col(string("status"))
            .col(string("record_key"))
            .col(integer("attempts").default(0).take())
            .col(timestamp_with_time_zone_null("next_attempt_at"))
            .col(text_null("last_error"))
            .col(string_null("external_id"))
            .col(text_null("url"))
            .col(timestamp_with_time_zone_null("published_at"))
            .timestamps()
            .index(&["status", "next_attempt_at"])
            .create(m)
            .await?;
        // One reply in flight per ticket, whatever the race between two requests.
        run_batch(m, "CREATE UNIQUE INDEX uq_reply_ticket_pending ON reply (ticket_id) WHERE status = 'pending'")
            .await?;
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // As every brand-owned table: one key over the brand and its agency
            // (m20261203_000012) and their dependency statistics (m20261203_000011).
            run_batch(
                m,
                "ALTER TABLE reply DROP CONSTRAINT fk_reply_brand_id, DROP CONSTRAINT fk_reply_agency_id, \
                 ADD CONSTRAINT fk_reply_brand FOREIGN KEY (brand_id, agency_id) \
                 REFERENCES brand (id, agency_id) ON DELETE CASCADE; \
                 CREATE STATISTICS st_reply_brand_agency (dependencies) ON brand_id, agency_id FROM reply",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, &["reply"]).await?;
        m.alter_table(Table::alter().table("connection").drop_column("sign_in_after").to_owned()).await
    }
}
