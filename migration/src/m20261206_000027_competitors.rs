//! Competitors and share of voice: a brand's `competitor`s (name, keywords, handles);
//! `mention.about_brand`, false for a mention that names only competitors (it opens no
//! ticket, no alert and makes no influencer of the brand); and `mention_competitor`,
//! one row per competitor a mention names, carrying what share of voice aggregates
//! (sentiment, reach, network) so that the competitors' figures read no mention row.
//! The dashboard's covering index gains `about_brand`, so the brand's own series still
//! read the index alone.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, link_table, run_batch, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BY_DAY: &str = "idx_mention_brand_id_published_at";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table("competitor")
            .tenant()
            .reference("brand_id", "brand", false, OnDelete::Cascade)
            .col(string("name"))
            .col(json_binary("keywords"))
            .col(json_binary("handles"))
            .timestamps()
            .unique(&["brand_id", "name"])
            .create(m)
            .await?;
        let mut links = link_table("mention_competitor", &["mention_id", "competitor_id"])
            .col(uuid("agency_id"))
            .col(uuid("brand_id"))
            .col(uuid_null("author_id"))
            .col(string("network"))
            .col(timestamp_with_time_zone("published_at"))
            .col(double_null("sentiment"))
            .col(big_integer_null("author_followers"))
            .reference("competitor_id", "competitor", false, OnDelete::Cascade)
            .index(&["brand_id", "published_at"]);
        // The primary key leads with the mention: its key needs no index of its own.
        links.create.foreign_key(
            ForeignKey::create()
                .name("fk_mention_competitor_mention_id")
                .from("mention_competitor", "mention_id")
                .to("mention", "id")
                .on_delete(ForeignKeyAction::Cascade),
        );
        links.create(m).await?;
        m.alter_table(
            Table::alter().table("mention").add_column(boolean("about_brand").default(true).to_owned()).to_owned(),
        )
        .await?;
        let covering = match m.get_database_backend() {
            DatabaseBackend::Postgres => {
                format!("CREATE INDEX {BY_DAY} ON mention (brand_id, published_at) INCLUDE (sentiment, about_brand)")
            }
            _ => format!("CREATE INDEX {BY_DAY} ON mention (brand_id, published_at, sentiment, about_brand)"),
        };
        run_batch(m, &format!("DROP INDEX {BY_DAY}; {covering}")).await?;
        if m.get_database_backend() == DatabaseBackend::Postgres {
            // As every brand-owned table (m20261203_000011 and m20261203_000012).
            run_batch(
                m,
                "ALTER TABLE competitor DROP CONSTRAINT fk_competitor_brand_id, \
                 DROP CONSTRAINT fk_competitor_agency_id, \
                 ADD CONSTRAINT fk_competitor_brand FOREIGN KEY (brand_id, agency_id) \
                 REFERENCES brand (id, agency_id) ON DELETE CASCADE; \
                 ALTER TABLE mention_competitor ADD CONSTRAINT fk_mention_competitor_brand \
                 FOREIGN KEY (brand_id, agency_id) REFERENCES brand (id, agency_id) ON DELETE CASCADE; \
                 CREATE STATISTICS st_competitor_brand_agency (dependencies) ON brand_id, agency_id \
                 FROM competitor; \
                 CREATE STATISTICS st_mention_competitor_brand_agency (dependencies) ON brand_id, agency_id \
                 FROM mention_competitor",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let covering = match m.get_database_backend() {
            DatabaseBackend::Postgres => {
                format!("CREATE INDEX {BY_DAY} ON mention (brand_id, published_at) INCLUDE (sentiment)")
            }
            _ => format!("CREATE INDEX {BY_DAY} ON mention (brand_id, published_at, sentiment)"),
        };
        run_batch(m, &format!("DROP INDEX {BY_DAY}; {covering}")).await?;
        m.alter_table(Table::alter().table("mention").drop_column("about_brand").to_owned()).await?;
        drop_tables(m, &["mention_competitor", "competitor"]).await
    }
}
