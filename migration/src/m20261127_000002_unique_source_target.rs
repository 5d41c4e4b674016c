//! A brand follows a given target once per kind; this also gives each brand a single
//! `ingest` source for pushed mentions, even under concurrent first pushes.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "uq_source_brand_id_kind_target";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create().name(NAME).table("source").col("brand_id").col("kind").col("target").unique().to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(NAME).table("source").to_owned()).await
    }
}
