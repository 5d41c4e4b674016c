//! `event.trace_parent`: the W3C `traceparent` of the work that recorded an event, so
//! that the webhooks it fans out to, sent later from another job, join that trace.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("event").add_column(string_null("trace_parent")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("event").drop_column("trace_parent").to_owned()).await
    }
}
