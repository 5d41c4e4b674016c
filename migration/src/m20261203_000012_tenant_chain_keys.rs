//! On PostgreSQL, composite foreign keys make the database hold every row's agency to
//! its brand's; three indexes that only cost writes go on both databases.
//!
//! - Each table whose rows belong to one brand references `brand (id, agency_id)` by
//!   `(brand_id, agency_id)`, in place of one key per column, and `mention` references
//!   `source (id, brand_id, agency_id)` by `(source_id, brand_id, agency_id)`. With
//!   per-column keys a row could name a brand of one agency and another agency, and
//!   only the code kept them together; tenant queries filter on both. A stored mention
//!   now checks two keys where it checked four, its author's included (`perf` of the
//!   pipeline bench: foreign-key checks were 11 % of all CPU samples), a new
//!   influencer and a ticket two where they checked three. Deletes cascade as before,
//!   an agency's mentions through its brands and their sources. Adding the keys checks the rows
//!   already there: should one break the chain, the migration fails on its constraint
//!   and leaves the schema as it was (that row was a tenancy fault to repair first).
//! - `mention (agency_id)`, `brand_influencer (agency_id)` and `ticket (agency_id)` go
//!   with the agency keys they served: every query of these tables filters by brand or
//!   by id as well, and each was written for every row. (The other tables keep theirs;
//!   they are small and rarely written.)
//! - `ticket (mention_id)` duplicated the unique index on the same column, `ticket
//!   (brand_id)` is the prefix of three composite indexes, and `event (agency_id)` the
//!   prefix of `(agency_id, kind, created_at)`.
//!
//! SQLite cannot change a table's foreign keys short of rebuilding it and the tables
//! that reference it, so it keeps the per-column keys and their indexes; there the code
//! alone keeps a row's agency its brand's, as it did on both before. Tables with an
//! optional brand (`api_key`, `event`, `sla_policy`) keep their per-column keys: a
//! composite key is not checked at all when one of its columns is null.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Indexes dropped on both databases, with the columns to recreate them from.
const REDUNDANT: [(&str, &str, &str); 3] = [
    ("idx_ticket_mention_id", "ticket", "mention_id"),
    ("idx_ticket_brand_id", "ticket", "brand_id"),
    ("idx_event_agency_id", "event", "agency_id"),
];

/// The tables (other than `mention`) whose rows belong to one brand.
const BRAND_OWNED: [&str; 9] = [
    "alert",
    "brand_influencer",
    "brand_value",
    "content_item",
    "csr_pillar",
    "membership_brand",
    "report_share",
    "source",
    "ticket",
];

/// Agency indexes that served only the agency keys, on tables written for every mention.
const AGENCY_INDEXED: [&str; 3] = ["mention", "brand_influencer", "ticket"];

fn chain_up() -> String {
    let mut sql = String::from(
        "ALTER TABLE brand ADD CONSTRAINT uq_brand_id_agency_id UNIQUE (id, agency_id); \
         ALTER TABLE source ADD CONSTRAINT uq_source_id_brand_id_agency_id UNIQUE (id, brand_id, agency_id); ",
    );
    for table in BRAND_OWNED {
        sql += &format!(
            "ALTER TABLE {table} DROP CONSTRAINT fk_{table}_brand_id, DROP CONSTRAINT fk_{table}_agency_id, \
             ADD CONSTRAINT fk_{table}_brand FOREIGN KEY (brand_id, agency_id) \
             REFERENCES brand (id, agency_id) ON DELETE CASCADE; "
        );
    }
    sql += "ALTER TABLE mention DROP CONSTRAINT fk_mention_source_id, DROP CONSTRAINT fk_mention_brand_id, \
            DROP CONSTRAINT fk_mention_agency_id, ADD CONSTRAINT fk_mention_source \
            FOREIGN KEY (source_id, brand_id, agency_id) REFERENCES source (id, brand_id, agency_id) \
            ON DELETE CASCADE; ";
    for table in AGENCY_INDEXED {
        sql += &format!("DROP INDEX idx_{table}_agency_id; ");
    }
    sql
}

fn chain_down() -> String {
    let per_column = |table: &str, col: &str, target: &str| {
        format!("ADD CONSTRAINT fk_{table}_{col} FOREIGN KEY ({col}) REFERENCES {target} (id) ON DELETE CASCADE")
    };
    let mut sql = String::new();
    for table in AGENCY_INDEXED {
        sql += &format!("CREATE INDEX idx_{table}_agency_id ON {table} (agency_id); ");
    }
    sql += &format!(
        "ALTER TABLE mention DROP CONSTRAINT fk_mention_source, {}, {}, {}; ",
        per_column("mention", "agency_id", "agency"),
        per_column("mention", "brand_id", "brand"),
        per_column("mention", "source_id", "source"),
    );
    for table in BRAND_OWNED {
        sql += &format!(
            "ALTER TABLE {table} DROP CONSTRAINT fk_{table}_brand, {}, {}; ",
            per_column(table, "agency_id", "agency"),
            per_column(table, "brand_id", "brand"),
        );
    }
    sql += "ALTER TABLE source DROP CONSTRAINT uq_source_id_brand_id_agency_id; \
            ALTER TABLE brand DROP CONSTRAINT uq_brand_id_agency_id; ";
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut batch: String = REDUNDANT.iter().map(|(name, _, _)| format!("DROP INDEX {name}; ")).collect();
        if m.get_database_backend() == DatabaseBackend::Postgres {
            batch.push_str(&chain_up());
        }
        run_batch(m, &batch).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let mut batch: String =
            REDUNDANT.iter().map(|(name, table, col)| format!("CREATE INDEX {name} ON {table} ({col}); ")).collect();
        if m.get_database_backend() == DatabaseBackend::Postgres {
            batch.push_str(&chain_down());
        }
        run_batch(m, &batch).await
    }
}
