//! `source.quota_remaining` and `source.quota_resets_at`: what the network's rate-limit
//! headers said of the quota at a source's last poll.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("source").add_column(integer_null("quota_remaining")).to_owned()).await?;
        let column = timestamp_with_time_zone_null("quota_resets_at");
        m.alter_table(Table::alter().table("source").add_column(column).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("source").drop_column("quota_resets_at").to_owned()).await?;
        m.alter_table(Table::alter().table("source").drop_column("quota_remaining").to_owned()).await
    }
}
