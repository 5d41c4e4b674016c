//! Indexes for the dashboard (docs/performance.md):
//! - `mention (brand_id, published_at)` also carries `sentiment`, so the daily
//!   sentiment series reads the index alone instead of one heap page per mention.
//!   PostgreSQL keeps it as an `INCLUDE` column; SQLite, which has none, as a third key
//!   column.
//! - The single-column `mention (brand_id)` index goes: every composite `(brand_id, …)`
//!   index serves the same lookups, and the planner picked it for date ranges, then
//!   filtered every mention of the brand. One index less also makes each stored
//!   mention cheaper.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BY_DAY: &str = "idx_mention_brand_id_published_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let covering = match m.get_database_backend() {
            DatabaseBackend::Postgres => {
                format!("CREATE INDEX {BY_DAY} ON mention (brand_id, published_at) INCLUDE (sentiment)")
            }
            _ => format!("CREATE INDEX {BY_DAY} ON mention (brand_id, published_at, sentiment)"),
        };
        let batch = format!("DROP INDEX idx_mention_brand_id; DROP INDEX {BY_DAY}; {covering}");
        run_batch(m, &batch).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let batch = format!(
            "DROP INDEX {BY_DAY}; CREATE INDEX {BY_DAY} ON mention (brand_id, published_at); \
             CREATE INDEX idx_mention_brand_id ON mention (brand_id)"
        );
        run_batch(m, &batch).await
    }
}
