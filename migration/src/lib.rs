//! Vigie's database migrations.
//!
//! Every migration must leave the two databases holding the same data the same way:
//! foreign keys are declared inside `CREATE TABLE` (SQLite cannot add them later) and
//! every alteration is a statement of its own. What SQLite cannot express is done on
//! PostgreSQL only and says so: planner statistics (`m20261203_000011`) and the
//! composite tenant keys (`m20261203_000012`). The test suite runs them up and down on
//! both databases.

pub use sea_orm_migration::prelude::*;

mod builder;
mod m20261127_000001_foundation;
mod m20261127_000002_unique_source_target;
mod m20261127_000003_scoring;
mod m20261127_000004_crises_webhooks;
mod m20261127_000005_relationships;
mod m20261127_000006_sla;
mod m20261127_000007_digests;
mod m20261127_000008_dashboard_indexes;
mod m20261202_000009_influencer_stale;
mod m20261202_000010_lean_write_indexes;
mod m20261203_000011_brand_agency_statistics;
mod m20261203_000012_tenant_chain_keys;
mod m20261203_000013_lean_influencer_indexes;
mod m20261203_000014_stale_marker_key;
mod m20261203_000015_refresh_token_expiry;
mod m20261204_000016_invitation_recent;
mod m20261205_000017_reply_author;
mod m20261205_000018_value_stances;
mod m20261205_000019_mention_retention;
mod m20261205_000020_event_trace;
mod m20261206_000021_connections;
mod m20261206_000022_replies;
mod m20261206_000023_reply_templates;
mod m20261206_000024_source_quota;
mod m20261206_000025_review_ratings;
mod m20261206_000026_oauth_grants;
mod m20261206_000027_competitors;
mod m20261206_000028_campaign_signals;
mod m20261206_000029_notifications_on_call;

/// The key of the PostgreSQL advisory lock under which migrations run ("vigie" in
/// ASCII), so that processes migrating one database take turns.
pub const MIGRATION_LOCK: i64 = 0x0076_6967_6965;

/// Applies the pending migrations, one process at a time: on PostgreSQL a transaction
/// holds an advisory lock for the whole run, so api replicas starting together wait for
/// the first one and then find nothing left to do, instead of racing it. SQLite is one
/// process's file and migrates as it is.
pub async fn up_exclusive(db: &sea_orm::DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let lock = sea_orm::TransactionTrait::begin(db).await?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
    let outcome = Migrator::up(db, None).await;
    // Committing releases the lock, whatever the migrations did.
    lock.commit().await?;
    outcome
}

/// The migrations this build has that the database has not applied, oldest first.
pub async fn pending(db: &sea_orm::DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations(db).await?.iter().map(|m| m.name().to_owned()).collect())
}

/// The ordered list of Vigie migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_foundation::Migration),
            Box::new(m20261127_000002_unique_source_target::Migration),
            Box::new(m20261127_000003_scoring::Migration),
            Box::new(m20261127_000004_crises_webhooks::Migration),
            Box::new(m20261127_000005_relationships::Migration),
            Box::new(m20261127_000006_sla::Migration),
            Box::new(m20261127_000007_digests::Migration),
            Box::new(m20261127_000008_dashboard_indexes::Migration),
            Box::new(m20261202_000009_influencer_stale::Migration),
            Box::new(m20261202_000010_lean_write_indexes::Migration),
            Box::new(m20261203_000011_brand_agency_statistics::Migration),
            Box::new(m20261203_000012_tenant_chain_keys::Migration),
            Box::new(m20261203_000013_lean_influencer_indexes::Migration),
            Box::new(m20261203_000014_stale_marker_key::Migration),
            Box::new(m20261203_000015_refresh_token_expiry::Migration),
            Box::new(m20261204_000016_invitation_recent::Migration),
            Box::new(m20261205_000017_reply_author::Migration),
            Box::new(m20261205_000018_value_stances::Migration),
            Box::new(m20261205_000019_mention_retention::Migration),
            Box::new(m20261205_000020_event_trace::Migration),
            Box::new(m20261206_000021_connections::Migration),
            Box::new(m20261206_000022_replies::Migration),
            Box::new(m20261206_000023_reply_templates::Migration),
            Box::new(m20261206_000024_source_quota::Migration),
            Box::new(m20261206_000025_review_ratings::Migration),
            Box::new(m20261206_000026_oauth_grants::Migration),
            Box::new(m20261206_000027_competitors::Migration),
            Box::new(m20261206_000028_campaign_signals::Migration),
            Box::new(m20261206_000029_notifications_on_call::Migration),
        ]
    }
}
