//! Columns for SLA policies and the inbox:
//! - `sla_policy.scope_key`: `agency:<id>` for an agency's default policy, `brand:<id>`
//!   for a brand's; unique, so there is one policy per scope.
//! - `sla_policy.time_zone`: overrides the brand's zone (NULL: the brand's).
//! - `ticket.network`, `ticket.tier`: copied from the mention and its author, for filters
//!   and compliance by network without a join.
//! - `ticket.sla_state`: `on_track`, `at_risk`, `breached` or `met`; the SLA clock moves
//!   it with conditional updates, so each transition (and its event) happens once.
//! - `ticket.target_minutes`, `ticket.first_response_minutes`: the target and the
//!   business minutes it took to answer, for compliance figures.

use crate::builder::{NamedIndex, create_indexes, drop_indexes};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [NamedIndex; 4] = [
    ("ux_sla_policy_scope_key", "sla_policy", &["scope_key"], true),
    ("ix_ticket_sla_state_due_at", "ticket", &["sla_state", "due_at"], false),
    ("ix_ticket_brand_id_due_at_id", "ticket", &["brand_id", "due_at", "id"], false),
    ("ix_ticket_brand_id_created_at", "ticket", &["brand_id", "created_at"], false),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let add = |table: &'static str, col: ColumnDef| Table::alter().table(table).add_column(col).to_owned();
        m.alter_table(add("sla_policy", string_len_null("scope_key", 80))).await?;
        m.alter_table(add("sla_policy", string_len_null("time_zone", 64))).await?;
        m.alter_table(add("ticket", string_len("network", 32).default("other").take())).await?;
        m.alter_table(add("ticket", string_len("tier", 16).default("nano").take())).await?;
        m.alter_table(add("ticket", string_len("sla_state", 16).default("on_track").take())).await?;
        m.alter_table(add("ticket", integer("target_minutes").default(0).take())).await?;
        m.alter_table(add("ticket", integer_null("first_response_minutes"))).await?;
        create_indexes(m, &INDEXES).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_indexes(m, &INDEXES).await?;
        let drop = |table: &'static str, col: &'static str| Table::alter().table(table).drop_column(col).to_owned();
        for col in ["first_response_minutes", "target_minutes", "sla_state", "tier", "network"] {
            m.alter_table(drop("ticket", col)).await?;
        }
        m.alter_table(drop("sla_policy", "time_zone")).await?;
        m.alter_table(drop("sla_policy", "scope_key")).await?;
        Ok(())
    }
}
