//! `connection`: an agency's credentials on a network (a Bluesky app password first),
//! sealed by the vault, with the account they open and their health; and
//! `source.connection_id`, the connection a source polls with (none: anonymous).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, run_batch, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table("connection")
            .tenant()
            .reference("brand_id", "brand", true, OnDelete::Cascade)
            .col(string("network"))
            .col(string("kind"))
            .col(string("account"))
            .col(string_null("account_id"))
            .col(text("endpoint"))
            .col(json_binary("scopes").default("[]").take())
            .col(text("secret"))
            .col(string("key_id"))
            .col(integer("version").default(0).take())
            .col(timestamp_with_time_zone_null("expires_at"))
            .col(boolean("healthy").default(true).take())
            .col(integer("consecutive_failures").default(0).take())
            .col(timestamp_with_time_zone_null("last_success_at"))
            .col(text_null("last_error"))
            .col(integer_null("quota_remaining"))
            .col(timestamp_with_time_zone_null("quota_resets_at"))
            .timestamps()
            .index(&["key_id"])
            .create(m)
            .await?;
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // As every table with both keys (see m20261203_000011).
            run_batch(
                m,
                "CREATE STATISTICS st_connection_brand_agency (dependencies) ON brand_id, agency_id FROM connection",
            )
            .await?;
        }
        // SQLite adds a column with a foreign key only in the column's own definition.
        let column =
            ColumnDef::new("connection_id").uuid().null().extra("REFERENCES connection (id) ON DELETE SET NULL").take();
        m.alter_table(Table::alter().table("source").add_column(column).to_owned()).await?;
        m.create_index(Index::create().name("idx_source_connection_id").table("source").col("connection_id").to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("idx_source_connection_id").table("source").to_owned()).await?;
        m.alter_table(Table::alter().table("source").drop_column("connection_id").to_owned()).await?;
        drop_tables(m, &["connection"]).await
    }
}
