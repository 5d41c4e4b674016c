//! `brand.mention_retention_months`: how long a brand's mentions are kept (24 months by
//! default); older ones, with their tickets, are pruned by the `mentions.prune` job.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut column = integer("mention_retention_months");
        column.default(24);
        m.alter_table(Table::alter().table("brand").add_column(column).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("brand").drop_column("mention_retention_months").to_owned()).await
    }
}
