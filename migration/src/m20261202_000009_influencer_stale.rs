//! `influencer_stale`: the authors whose influence for a brand must be recomputed
//! because they have newly scored mentions. The scoring job appends one row per author
//! of its batch in its own transaction; `influencers.refresh` takes them (one refresher
//! per brand at a time), recomputes, and deletes them.
//!
//! Rows are appended, never upserted: a marker becomes visible only with the mentions
//! that made it, so the refresher cannot consume a marker before it can read them. An
//! author marked by several batches is recomputed once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table("influencer_stale")
            .reference("brand_id", "brand", false, OnDelete::Cascade)
            .col(uuid("author_id"))
            .col(timestamp_with_time_zone("created_at"))
            .create(m)
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, &["influencer_stale"]).await
    }
}
