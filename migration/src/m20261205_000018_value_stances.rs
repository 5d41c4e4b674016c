//! Value gaps from accusations: `mention.value_stances` (how the mention speaks of each
//! value it touches) and `mention.accuses_value` with a partial index, so detection
//! reads a brand's accusations without scanning its other mentions; `brand.hold_min_severity`
//! (from which severity a value-gap alert holds calendar posts); and the verdict a
//! manager gives an alert (`alert.verdict`, its note and date).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::run_batch;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, column: ColumnDef| Table::alter().table(table).add_column(column).to_owned();
        m.alter_table(add("mention", json_binary("value_stances").default(Expr::value("[]")).to_owned())).await?;
        m.alter_table(add("mention", boolean("accuses_value").default(false).to_owned())).await?;
        m.alter_table(add("brand", string("hold_min_severity").default("high").to_owned())).await?;
        m.alter_table(add("alert", string_null("verdict"))).await?;
        m.alter_table(add("alert", text_null("verdict_note"))).await?;
        m.alter_table(add("alert", timestamp_with_time_zone_null("judged_at"))).await?;
        run_batch(m, "CREATE INDEX ix_mention_accusations ON mention (brand_id, published_at) WHERE accuses_value")
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        run_batch(m, "DROP INDEX ix_mention_accusations").await?;
        for (table, column) in [
            ("alert", "judged_at"),
            ("alert", "verdict_note"),
            ("alert", "verdict"),
            ("brand", "hold_min_severity"),
            ("mention", "accuses_value"),
            ("mention", "value_stances"),
        ] {
            m.alter_table(Table::alter().table(table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
