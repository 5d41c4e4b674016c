//! Expired refresh tokens are deleted by the retention job (`retention.prune`), which
//! finds them by `expires_at`: without this index each of its batches would read every
//! token of the table, and the table gains a row at every refresh of every session.

use sea_orm_migration::prelude::*;

use crate::builder::{NamedIndex, create_indexes, drop_indexes};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [NamedIndex; 1] = [("ix_refresh_token_expires_at", "refresh_token", &["expires_at"], false)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create_indexes(m, &INDEXES).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &INDEXES).await
    }
}
