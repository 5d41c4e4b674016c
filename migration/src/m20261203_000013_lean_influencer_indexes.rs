//! An influence refresh writes four index entries for an influencer nobody works with,
//! where it wrote nine.
//!
//! A refresh changes the influencer's `score`, which `(brand_id, score, id)` indexes, so
//! PostgreSQL writes a new row version with an entry in every index of the table
//! (about 0.6 refreshes per stored mention in the pipeline bench: nearly as many
//! entries as the mention's own seven). Of the nine indexes:
//!
//! - `(brand_id, tier)` and `(brand_id, stance)` go. The influencer list filters on
//!   them only alongside an order, and walking `(brand_id, score, id)` with the filter
//!   gives the first page; a bitmap of a whole tier still had to be sorted.
//! - `(brand_id, relationship_status)` goes: no query looks influencers up by status
//!   alone (the daily contact recomputation reads a brand's few curated rows under an
//!   `OR` of three conditions, which this index could not serve by itself).
//! - `(brand_id, next_contact_due_at, id)` and `(owner_membership_id,
//!   next_contact_due_at)` keep only the rows they can find: the due contacts (every
//!   query of them bounds `next_contact_due_at`, which implies it is not null) and the
//!   owned influencers (the owner index also serves the membership's foreign key,
//!   whose lookups by owner imply it is not null). Most influencers are neither, so a
//!   refresh writes no entry in them.
//!
//! Both databases use a partial index when the query's conditions imply its `WHERE`,
//! with bound parameters too, for `IS NOT NULL`.

use sea_orm_migration::prelude::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let batch = "DROP INDEX idx_brand_influencer_brand_id_tier; \
             DROP INDEX idx_brand_influencer_brand_id_stance; \
             DROP INDEX idx_brand_influencer_brand_id_relationship_status; \
             DROP INDEX ix_brand_influencer_brand_id_next_contact_due_at_id; \
             CREATE INDEX ix_brand_influencer_due ON brand_influencer (brand_id, next_contact_due_at, id) \
               WHERE next_contact_due_at IS NOT NULL; \
             DROP INDEX ix_brand_influencer_owner_next_contact_due_at; \
             CREATE INDEX ix_brand_influencer_owned ON brand_influencer (owner_membership_id, next_contact_due_at) \
               WHERE owner_membership_id IS NOT NULL";
        run_batch(m, batch).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let batch = "CREATE INDEX idx_brand_influencer_brand_id_tier ON brand_influencer (brand_id, tier); \
             CREATE INDEX idx_brand_influencer_brand_id_stance ON brand_influencer (brand_id, stance); \
             CREATE INDEX idx_brand_influencer_brand_id_relationship_status \
               ON brand_influencer (brand_id, relationship_status); \
             DROP INDEX ix_brand_influencer_due; \
             CREATE INDEX ix_brand_influencer_brand_id_next_contact_due_at_id \
               ON brand_influencer (brand_id, next_contact_due_at, id); \
             DROP INDEX ix_brand_influencer_owned; \
             CREATE INDEX ix_brand_influencer_owner_next_contact_due_at \
               ON brand_influencer (owner_membership_id, next_contact_due_at)";
        run_batch(m, batch).await
    }
}
