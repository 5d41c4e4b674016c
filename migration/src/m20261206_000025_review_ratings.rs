//! `mention.rating`: a review's stars, and an index over a brand's reviews by date for
//! their mean in reports (partial: only reviews carry a rating).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("mention").add_column(small_integer_null("rating")).to_owned()).await?;
        run_batch(
            m,
            "CREATE INDEX idx_mention_brand_rated ON mention (brand_id, published_at) WHERE rating IS NOT NULL",
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("idx_mention_brand_rated").table("mention").to_owned()).await?;
        m.alter_table(Table::alter().table("mention").drop_column("rating").to_owned()).await
    }
}
