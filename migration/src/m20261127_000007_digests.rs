//! Scheduled report digests:
//! - `brand.digest_frequency`: `weekly` (default), `monthly` or `off`.
//! - `brand.last_digest_at`: the end of the last period sent; the digest job claims a
//!   period by moving it with a conditional update, so a digest goes out once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add("brand", string_len("digest_frequency", 16).default("weekly").take())).await?;
        m.alter_table(add("brand", timestamp_with_time_zone_null("last_digest_at"))).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let drop = |table: &'static str, col: &'static str| Table::alter().table(table).drop_column(col).to_owned();
        m.alter_table(drop("brand", "last_digest_at")).await?;
        m.alter_table(drop("brand", "digest_frequency")).await?;
        Ok(())
    }
}
