//! `oauth_grant`: an OAuth 2 authorisation a manager started and the network has not
//! sent back yet: the hash of its `state`, its PKCE verifier (sealed) and who asked,
//! for ten minutes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, run_batch, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table("oauth_grant")
            .tenant()
            .reference("brand_id", "brand", true, OnDelete::Cascade)
            .reference("user_id", "user_account", false, OnDelete::Cascade)
            .col(string("network"))
            .col(string("state_hash"))
            .col(text("verifier"))
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["state_hash"])
            .index(&["expires_at"])
            .create(m)
            .await?;
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // As every table with both keys (see m20261203_000011).
            run_batch(
                m,
                "CREATE STATISTICS st_oauth_grant_brand_agency (dependencies) ON brand_id, agency_id FROM oauth_grant",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, &["oauth_grant"]).await
    }
}
