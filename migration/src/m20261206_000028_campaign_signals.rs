//! Signals of campaigns against a brand: `mention.mobilises`, the mention calls to act
//! against its brand (boycott, petition, "stop buying"), with a partial index over a
//! brand's calls by date, so mobilisation detection reads them without scanning the
//! brand's other mentions; and `author.account_created_at`, when the network says the
//! account was made, which coordination signals read (fresh accounts).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table("mention").add_column(boolean("mobilises").default(false).to_owned()).to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter().table("author").add_column(timestamp_with_time_zone_null("account_created_at")).to_owned(),
        )
        .await?;
        run_batch(m, "CREATE INDEX ix_mention_mobilisation ON mention (brand_id, published_at) WHERE mobilises").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        run_batch(m, "DROP INDEX ix_mention_mobilisation").await?;
        m.alter_table(Table::alter().table("author").drop_column("account_created_at").to_owned()).await?;
        m.alter_table(Table::alter().table("mention").drop_column("mobilises").to_owned()).await
    }
}
