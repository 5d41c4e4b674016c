//! Tells PostgreSQL's planner that a brand belongs to one agency.
//!
//! Every tenant query filters on `agency_id` and `brand_id` together. Without extended
//! statistics the planner takes the two conditions as independent and multiplies their
//! selectivities, expecting a fraction of a brand's rows, and then hashes and sorts
//! where walking the brand's `(brand_id, score, id)` index would read a page of rows.
//! Functional dependency statistics say that `brand_id` determines `agency_id`, so the
//! pair is as selective as the brand alone.
//!
//! SQLite has no such statistics and plans these queries by their indexes alone.

use sea_orm_migration::prelude::*;

use crate::builder::run_batch;

/// The tables whose rows carry both keys.
const TABLES: [&str; 13] = [
    "alert",
    "api_key",
    "brand_influencer",
    "brand_value",
    "content_item",
    "csr_pillar",
    "event",
    "membership_brand",
    "mention",
    "report_share",
    "sla_policy",
    "source",
    "ticket",
];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        // Statistics objects are filled by the next ANALYZE; the tables are analyzed
        // here so that plans improve at once rather than at autovacuum's next pass.
        let batch: String = TABLES
            .iter()
            .map(|table| {
                format!(
                    "CREATE STATISTICS st_{table}_brand_agency (dependencies) ON brand_id, agency_id FROM {table}; \
                     ANALYZE {table}; "
                )
            })
            .collect();
        run_batch(m, &batch).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return Ok(());
        }
        let batch: String = TABLES.iter().map(|table| format!("DROP STATISTICS st_{table}_brand_agency; ")).collect();
        run_batch(m, &batch).await
    }
}
