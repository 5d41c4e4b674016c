//! `mention.in_reply_to_author`: the handle of the account a reply answers. A reply is
//! addressed to the brand only when it answers one of the brand's own accounts, not
//! whenever it is a reply.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("mention").add_column(string_null("in_reply_to_author")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table("mention").drop_column("in_reply_to_author").to_owned()).await
    }
}
