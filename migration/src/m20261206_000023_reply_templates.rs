//! `reply_template`: a brand's library of frequent answers, per language.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, run_batch, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table("reply_template")
            .tenant()
            .reference("brand_id", "brand", false, OnDelete::Cascade)
            .col(string("name"))
            .col(string("language"))
            .col(text("body"))
            .timestamps()
            .create(m)
            .await?;
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            // As every brand-owned table (m20261203_000011 and m20261203_000012).
            run_batch(
                m,
                "ALTER TABLE reply_template DROP CONSTRAINT fk_reply_template_brand_id, \
                 DROP CONSTRAINT fk_reply_template_agency_id, \
                 ADD CONSTRAINT fk_reply_template_brand FOREIGN KEY (brand_id, agency_id) \
                 REFERENCES brand (id, agency_id) ON DELETE CASCADE; \
                 CREATE STATISTICS st_reply_template_brand_agency (dependencies) ON brand_id, agency_id \
                 FROM reply_template",
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, &["reply_template"]).await
    }
}
