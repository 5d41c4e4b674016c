//! `influencer_stale` is keyed by `(brand_id, author_id, id)`, which the refresher's
//! range takes and the brand's foreign key both use, in place of a key on `id` alone
//! next to a `(brand_id, author_id)` index: each marker (about one per stored mention)
//! writes one index entry where it wrote two.
//!
//! Neither database can change a table's primary key in place (SQLite not at all), so
//! the table is rebuilt under a new name with its markers copied over, and renamed.

use sea_orm::DatabaseBackend;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The markers table, built as `influencer_stale_next`, keyed by `key` under `key_name`.
fn markers(key_name: &str, key: &[&str]) -> TableCreateStatement {
    let name = "influencer_stale_next";
    let mut pk = Index::create();
    pk.name(key_name);
    for col in key {
        pk.col(Alias::new(*col));
    }
    Table::create()
        .table(Alias::new(name))
        .col(uuid("id"))
        .col(uuid("brand_id"))
        .col(uuid("author_id"))
        .col(timestamp_with_time_zone("created_at"))
        .primary_key(&mut pk)
        .foreign_key(
            ForeignKey::create()
                .name("fk_influencer_stale_brand_id")
                .from(Alias::new(name), "brand_id")
                .to("brand", "id")
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

/// Rebuilds the table through `markers`, keeping its rows; `extra` runs after the rename.
async fn rebuild(m: &SchemaManager<'_>, create: TableCreateStatement, extra: &str) -> Result<(), DbErr> {
    let backend = m.get_database_backend();
    let create = match backend {
        DatabaseBackend::Postgres => create.to_string(PostgresQueryBuilder),
        _ => create.to_string(SqliteQueryBuilder),
    };
    let batch = format!(
        "{create}; \
         INSERT INTO influencer_stale_next (id, brand_id, author_id, created_at) \
           SELECT id, brand_id, author_id, created_at FROM influencer_stale; \
         DROP TABLE influencer_stale; \
         ALTER TABLE influencer_stale_next RENAME TO influencer_stale; {extra}"
    );
    run_batch(m, &batch).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(m, markers("pk_influencer_stale", &["brand_id", "author_id", "id"]), "").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        rebuild(
            m,
            // The name PostgreSQL gave the key `m20261202_000009` declared.
            markers("influencer_stale_pkey", &["id"]),
            "CREATE INDEX idx_influencer_stale_brand_id_author_id ON influencer_stale (brand_id, author_id)",
        )
        .await
    }
}
