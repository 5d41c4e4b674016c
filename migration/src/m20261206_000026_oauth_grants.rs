//! `oauth_grant`: an OAuth 2 authorisation a manager started: the hash of its `state`,
//! its PKCE verifier (sealed) and who asked; once the network sent the browser back,
//! the tokens it gave (sealed) and the hash of the ticket with which that manager
//! completes it. Ten minutes at each step; `quota_budget`: what is left of a network's
//! daily quota shared by every connection (YouTube's units are per project); and one
//! reply per published post and connection (networks that take no idempotency key are
//! looked up by text, and two replies must not both take one post).

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
            .col(string_null("ticket_hash"))
            .col(text_null("consent"))
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["state_hash"])
            .unique(&["ticket_hash"])
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
        run_batch(
            m,
            "CREATE UNIQUE INDEX uq_reply_connection_external ON reply (connection_id, external_id) \
             WHERE external_id IS NOT NULL",
        )
        .await?;
        m.create_table(
            Table::create()
                .table("quota_budget")
                .col(string("network").primary_key())
                .col(integer("remaining"))
                .col(timestamp_with_time_zone("resets_at"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("uq_reply_connection_external").table("reply").to_owned()).await?;
        drop_tables(m, &["quota_budget", "oauth_grant"]).await
    }
}
