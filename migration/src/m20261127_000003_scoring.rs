//! Columns for collection and scoring:
//! - `mention.author_followers`: the follower count the mention came with. Authors are
//!   shared by every tenant, so counts that a tenant pushes stay on its own mentions and
//!   only collectors (which read the network itself) update the shared `author` row.
//! - `mention.search_text`: the words of the text, lower-cased and without accents,
//!   joined by single spaces: the one column searched (full-text on PostgreSQL, `LIKE` on SQLite), so `ecologie` finds `Écologie`.
//! - `mention.solicitation_priority`: set when scoring finds the mention asks the brand.
//! - `source.endpoint`: the instance or API a network source talks to.
//! - `brand.discovery_threshold`: the influence score that makes an author "discovered".
//! - `brand_influencer.discovered_at`: when the author first crossed it (one event).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const FTS_INDEX: &str = "ix_mention_search_fts";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add("mention", big_integer_null("author_followers"))).await?;
        m.alter_table(add("mention", text("search_text").default("").take())).await?;
        m.alter_table(add("mention", string_len_null("solicitation_priority", 16))).await?;
        m.alter_table(add("source", text_null("endpoint"))).await?;
        m.alter_table(add("brand", integer("discovery_threshold").default(60).take())).await?;
        m.alter_table(add("brand_influencer", timestamp_with_time_zone_null("discovered_at"))).await?;
        for (name, table, cols) in [
            ("ix_mention_brand_id_author_id", "mention", &["brand_id", "author_id"][..]),
            ("ix_mention_brand_id_scored_at", "mention", &["brand_id", "scored_at"][..]),
            ("ix_brand_influencer_brand_id_score_id", "brand_influencer", &["brand_id", "score", "id"][..]),
        ] {
            let mut index = Index::create().name(name).table(table).to_owned();
            for col in cols {
                index.col(*col);
            }
            m.create_index(index).await?;
        }
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            m.get_connection()
                .execute_unprepared(&format!(
                    "CREATE INDEX {FTS_INDEX} ON mention USING GIN (to_tsvector('simple', search_text))"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            m.get_connection().execute_unprepared(&format!("DROP INDEX {FTS_INDEX}")).await?;
        }
        for (name, table) in [
            ("ix_mention_brand_id_author_id", "mention"),
            ("ix_mention_brand_id_scored_at", "mention"),
            ("ix_brand_influencer_brand_id_score_id", "brand_influencer"),
        ] {
            m.drop_index(Index::drop().name(name).table(table).to_owned()).await?;
        }
        let drop = |table: &'static str, col: &'static str| Table::alter().table(table).drop_column(col).to_owned();
        m.alter_table(drop("brand_influencer", "discovered_at")).await?;
        m.alter_table(drop("brand", "discovery_threshold")).await?;
        m.alter_table(drop("source", "endpoint")).await?;
        m.alter_table(drop("mention", "solicitation_priority")).await?;
        m.alter_table(drop("mention", "search_text")).await?;
        m.alter_table(drop("mention", "author_followers")).await?;
        Ok(())
    }
}
