//! Fewer index entries written per stored mention and per influence refresh: every
//! index is written on each insert, and a refresh changes `score`, so it rewrites every
//! index entry of its influencer row.
//!
//! - `mention (source_id)` goes: the unique `(source_id, external_id)` serves the same
//!   lookups and the foreign key's cascade.
//! - `mention (scored_at)` and `(brand_id, scored_at)` were only ever searched for
//!   `scored_at IS NULL` (mentions stored before scoring moved into storing); one partial
//!   index on the unscored rows replaces them and is empty in normal operation.
//! - `mention (brand_id, is_solicitation)` becomes `(brand_id, published_at)` over the
//!   solicitations only: the mention list is read newest first, and the other mentions
//!   are found by `(brand_id, published_at)` anyway. The list filters on the bare column
//!   so that PostgreSQL's generic plans use it (checked with `EXPLAIN`).
//! - `brand_influencer (brand_id)`, `(brand_id, score)`, `(brand_id,
//!   next_contact_due_at)` and `(owner_membership_id)` go: each is the prefix of a
//!   composite index that ends with `id` for keyset pagination.

use sea_orm_migration::prelude::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let batch = "DROP INDEX idx_mention_source_id; \
             DROP INDEX idx_mention_scored_at; \
             DROP INDEX ix_mention_brand_id_scored_at; \
             CREATE INDEX ix_mention_unscored ON mention (brand_id) WHERE scored_at IS NULL; \
             DROP INDEX idx_mention_brand_id_is_solicitation; \
             CREATE INDEX ix_mention_solicitations ON mention (brand_id, published_at) WHERE is_solicitation; \
             DROP INDEX idx_brand_influencer_brand_id; \
             DROP INDEX idx_brand_influencer_brand_id_score; \
             DROP INDEX idx_brand_influencer_brand_id_next_contact_due_at; \
             DROP INDEX idx_brand_influencer_owner_membership_id";
        run_batch(m, batch).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let batch = "CREATE INDEX idx_mention_source_id ON mention (source_id); \
             DROP INDEX ix_mention_unscored; \
             CREATE INDEX idx_mention_scored_at ON mention (scored_at); \
             CREATE INDEX ix_mention_brand_id_scored_at ON mention (brand_id, scored_at); \
             DROP INDEX ix_mention_solicitations; \
             CREATE INDEX idx_mention_brand_id_is_solicitation ON mention (brand_id, is_solicitation); \
             CREATE INDEX idx_brand_influencer_brand_id ON brand_influencer (brand_id); \
             CREATE INDEX idx_brand_influencer_brand_id_score ON brand_influencer (brand_id, score); \
             CREATE INDEX idx_brand_influencer_brand_id_next_contact_due_at \
               ON brand_influencer (brand_id, next_contact_due_at); \
             CREATE INDEX idx_brand_influencer_owner_membership_id ON brand_influencer (owner_membership_id)";
        run_batch(m, batch).await
    }
}
