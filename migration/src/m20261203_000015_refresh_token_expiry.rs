//! Expired refresh tokens are deleted by the retention job (`retention.prune`), which
//! finds them by `expires_at`: without this index each of its batches would read every
//! token of the table, and the table gains a row at every refresh of every session.

use sea_orm_migration::prelude::*;

const NAME: &str = "ix_refresh_token_expires_at";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let index =
            Index::create().name(NAME).table(Alias::new("refresh_token")).col(Alias::new("expires_at")).to_owned();
        m.create_index(index).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(NAME).table(Alias::new("refresh_token")).to_owned()).await
    }
}
