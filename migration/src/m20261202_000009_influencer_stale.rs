//! `influencer_stale`: the authors whose influence for a brand must be recomputed
//! because they have newly scored mentions. The scoring job appends one row per author
//! of its batch in its own transaction; `influencers.refresh` takes them (one refresher
//! per brand at a time), recomputes, and deletes them.
//!
//! Rows are appended, never upserted: a marker becomes visible only with the mentions
//! that made it, so the refresher cannot consume a marker before it can read them. The
//! refresher takes authors, not rows (all the markers of each author it picks, through
//! the `(brand_id, author_id)` index), so an author marked by many batches is
//! recomputed once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut stale = table("influencer_stale")
            .col(uuid("brand_id"))
            .col(uuid("author_id"))
            .col(timestamp_with_time_zone("created_at"))
            .index(&["brand_id", "author_id"]);
        // The composite index serves the foreign key too: no single-column one.
        stale.create.foreign_key(
            ForeignKey::create()
                .name("fk_influencer_stale_brand_id")
                .from("influencer_stale", "brand_id")
                .to("brand", "id")
                .on_delete(ForeignKeyAction::Cascade),
        );
        stale.create(m).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, &["influencer_stale"]).await
    }
}
