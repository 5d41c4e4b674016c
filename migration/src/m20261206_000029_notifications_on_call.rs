//! Per-member notification preferences (which events, which brands, email and Slack or
//! Teams incoming webhooks, quiet hours in the member's time zone) and the
//! notifications they make, one per member, event and chat channel, with their
//! attempts (email goes through the outbox); and the agency's on-call rota, shifts of
//! staff members that SLA escalations follow.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::builder::{OnDelete, drop_tables, table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        table("notification_preference")
            .tenant()
            .reference("membership_id", "membership", false, OnDelete::Cascade)
            .col(json_binary("event_types"))
            .col(json_binary("brand_ids"))
            .col(boolean("email"))
            .col(text_null("slack_url"))
            .col(text_null("teams_url"))
            .col(small_integer_null("quiet_from"))
            .col(small_integer_null("quiet_to"))
            .col(string("time_zone"))
            .timestamps()
            .unique(&["membership_id"])
            .create(m)
            .await?;
        table("notification")
            .tenant()
            .reference("membership_id", "membership", false, OnDelete::Cascade)
            .reference("event_id", "event", false, OnDelete::Cascade)
            .col(string("channel"))
            .col(string("status"))
            .col(integer("attempts"))
            .col(timestamp_with_time_zone_null("next_attempt_at"))
            .col(text_null("last_error"))
            .col(timestamp_with_time_zone_null("sent_at"))
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["membership_id", "event_id", "channel"])
            .index(&["status", "next_attempt_at"])
            .create(m)
            .await?;
        table("on_call_shift")
            .tenant()
            .reference("membership_id", "membership", false, OnDelete::Cascade)
            .col(timestamp_with_time_zone("starts_at"))
            .col(timestamp_with_time_zone("ends_at"))
            .col(timestamp_with_time_zone("created_at"))
            .index(&["agency_id", "starts_at"])
            .create(m)
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, &["on_call_shift", "notification", "notification_preference"]).await
    }
}
