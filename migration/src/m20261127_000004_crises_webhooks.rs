//! Columns for crisis detection and webhooks:
//! - `brand.crisis_z_threshold`, `brand.crisis_min_count`: a negative spike opens an
//!   alert when its z-score and its count both reach these.
//! - `brand.value_gap_min_count`: negative mentions touching one stated value (in a day)
//!   that open a value-gap alert; one from a macro or mega author opens it at once.
//! - `brand.escalation_emails`: who is emailed when a crisis opens or worsens (the SLA
//!   issue sends breaches to the same people).
//! - `alert.open_key`: `brand:kind[:value]` while the alert is not resolved, NULL after.
//!   Its unique index makes "one open alert per brand and kind" hold under concurrent
//!   detectors on both databases (NULLs never collide).
//! - `webhook_delivery.payload`: the exact body sent, so retries and replays are
//!   byte-identical and the signature of a replay matches the original message.

use crate::builder::{NamedIndex, create_indexes, drop_indexes};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [NamedIndex; 4] = [
    ("ux_alert_open_key", "alert", &["open_key"], true),
    ("ix_alert_event_alert_id_occurred_at", "alert_event", &["alert_id", "occurred_at"], false),
    ("ix_webhook_delivery_endpoint_id_id", "webhook_delivery", &["endpoint_id", "id"], false),
    ("ix_webhook_attempt_delivery_id_attempted_at", "webhook_attempt", &["delivery_id", "attempted_at"], false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add("brand", double("crisis_z_threshold").default(3.0).take())).await?;
        m.alter_table(add("brand", integer("crisis_min_count").default(10).take())).await?;
        m.alter_table(add("brand", integer("value_gap_min_count").default(3).take())).await?;
        m.alter_table(add("brand", json_binary("escalation_emails").default("[]").take())).await?;
        m.alter_table(add("alert", string_len_null("open_key", 120))).await?;
        m.alter_table(add("webhook_delivery", text("payload").default("").take())).await?;
        create_indexes(m, &INDEXES).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &INDEXES).await?;
        let drop = |table: &'static str, col: &'static str| Table::alter().table(table).drop_column(col).to_owned();
        m.alter_table(drop("webhook_delivery", "payload")).await?;
        m.alter_table(drop("alert", "open_key")).await?;
        for col in ["escalation_emails", "value_gap_min_count", "crisis_min_count", "crisis_z_threshold"] {
            m.alter_table(drop("brand", col)).await?;
        }
        Ok(())
    }
}
