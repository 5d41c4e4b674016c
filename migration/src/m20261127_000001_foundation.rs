//! The whole data model of DESIGN.md: tenancy and auth, brands, collection, scoring,
//! CRM, SLAs, crises, CSR calendar, webhooks, reports, jobs and audit.

use crate::builder::{OnDelete::*, drop_tables, link_table, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Creation order; `down` drops them in reverse.
const TABLES: &[&str] = &[
    "agency",
    "user_account",
    "membership",
    "brand",
    "membership_brand",
    "refresh_token",
    "api_key",
    "invitation",
    "brand_value",
    "source",
    "author",
    "mention",
    "brand_influencer",
    "interaction",
    "idea",
    "sla_policy",
    "ticket",
    "alert",
    "alert_mention",
    "alert_event",
    "csr_pillar",
    "content_item",
    "content_item_pillar",
    "content_item_value",
    "content_comment",
    "content_review",
    "event",
    "webhook_endpoint",
    "webhook_delivery",
    "webhook_attempt",
    "report_share",
    "job_failure",
    "audit_log",
    "email_outbox",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // --- tenancy and auth -------------------------------------------------------
        table("agency").col(string("name")).col(string_null("sender_email")).timestamps().create(m).await?;
        table("user_account")
            .col(string("email"))
            .col(string("name"))
            .col(string("password_hash"))
            .timestamps()
            .unique(&["email"])
            .create(m)
            .await?;
        table("membership")
            .tenant()
            .reference("user_id", "user_account", false, Cascade)
            .col(string("role"))
            .timestamps()
            .unique(&["agency_id", "user_id"])
            .create(m)
            .await?;
        table("brand")
            .tenant()
            .col(string("name"))
            .col(string_null("sector"))
            .col(json_binary("tracked_keywords"))
            .col(json_binary("handles"))
            .col(string("time_zone"))
            .col(string_len("language", 8).default("en").take())
            .timestamps()
            .unique(&["agency_id", "name"])
            .create(m)
            .await?;
        link_table("membership_brand", &["membership_id", "brand_id"])
            .tenant()
            .reference("membership_id", "membership", false, Cascade)
            .reference("brand_id", "brand", false, Cascade)
            .col(timestamp_with_time_zone("created_at"))
            .create(m)
            .await?;
        table("refresh_token")
            .tenant()
            .reference("user_id", "user_account", false, Cascade)
            .col(uuid("family_id"))
            .col(string("token_hash"))
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone_null("used_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["token_hash"])
            .index(&["family_id"])
            .create(m)
            .await?;
        table("api_key")
            .tenant()
            .reference("brand_id", "brand", true, Cascade)
            .col(string("name"))
            .col(string("prefix"))
            .col(string("secret_hash"))
            .reference("created_by", "user_account", true, SetNull)
            .col(timestamp_with_time_zone_null("last_used_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["secret_hash"])
            .create(m)
            .await?;
        table("invitation")
            .tenant()
            .col(string("email"))
            .col(string("role"))
            .col(json_binary("brand_ids"))
            .col(string("token_hash"))
            .reference("invited_by", "user_account", true, SetNull)
            .col(timestamp_with_time_zone("expires_at"))
            .col(timestamp_with_time_zone_null("accepted_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["token_hash"])
            .index(&["agency_id", "email"])
            .create(m)
            .await?;
        table("brand_value")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .col(string("name"))
            .col(text("description"))
            .col(json_binary("keywords"))
            .timestamps()
            .unique(&["brand_id", "name"])
            .create(m)
            .await?;

        // --- collection ---------------------------------------------------------------
        table("source")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .col(string("network"))
            .col(string("kind"))
            .col(text("target"))
            .col(integer("poll_interval_secs"))
            .col(boolean("enabled").default(true).take())
            .col(json_binary_null("cursor"))
            .col(string_null("etag"))
            .col(string_null("last_modified"))
            .col(timestamp_with_time_zone_null("next_poll_at"))
            .col(timestamp_with_time_zone_null("last_polled_at"))
            .col(timestamp_with_time_zone_null("last_success_at"))
            .col(text_null("last_error"))
            .col(integer("consecutive_failures").default(0).take())
            .col(boolean("healthy").default(true).take())
            .timestamps()
            .index(&["enabled", "next_poll_at"])
            .create(m)
            .await?;
        // Authors are public profiles shared by every tenant; what a tenant knows about
        // one lives in `brand_influencer`.
        table("author")
            .col(string("network"))
            .col(string("handle"))
            .col(string_null("display_name"))
            .col(text_null("profile_url"))
            .col(text_null("bio"))
            .col(big_integer("followers").default(0).take())
            .col(big_integer("following").default(0).take())
            .col(big_integer_null("posts_count"))
            .col(boolean("verified").default(false).take())
            .timestamps()
            .unique(&["network", "handle"])
            .create(m)
            .await?;
        table("mention")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .reference("source_id", "source", false, Cascade)
            .col(string("external_id"))
            .reference("author_id", "author", true, SetNull)
            .col(string("network"))
            .col(text_null("url"))
            .col(text("text"))
            .col(string_len_null("lang", 8))
            .col(timestamp_with_time_zone("published_at"))
            .col(timestamp_with_time_zone("collected_at"))
            .col(double_null("sentiment"))
            .col(double_null("relevance"))
            .col(big_integer("likes").default(0).take())
            .col(big_integer("shares").default(0).take())
            .col(big_integer("replies").default(0).take())
            .col(big_integer("views").default(0).take())
            .col(json_binary("value_tags"))
            .col(boolean("is_solicitation").default(false).take())
            .col(string_null("in_reply_to"))
            .col(boolean("is_direct").default(false).take())
            .col(timestamp_with_time_zone_null("scored_at"))
            .unique(&["source_id", "external_id"])
            .index(&["brand_id", "published_at"])
            .index(&["brand_id", "is_solicitation"])
            .index(&["brand_id", "sentiment"])
            .index(&["brand_id", "network"])
            .index(&["scored_at"])
            .create(m)
            .await?;
        table("brand_influencer")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .reference("author_id", "author", false, Cascade)
            .col(double("score").default(0.0).take())
            .col(json_binary("components"))
            .col(string("tier"))
            .col(string("stance"))
            .col(string("relationship_status"))
            .reference("owner_membership_id", "membership", true, SetNull)
            .col(json_binary("tags"))
            .col(text_null("notes"))
            .col(integer("mention_count").default(0).take())
            .col(integer_null("contact_cadence_days"))
            .col(timestamp_with_time_zone_null("next_contact_due_at"))
            .col(timestamp_with_time_zone("first_seen_at"))
            .col(timestamp_with_time_zone("last_seen_at"))
            .timestamps()
            .unique(&["brand_id", "author_id"])
            .index(&["brand_id", "score"])
            .index(&["brand_id", "tier"])
            .index(&["brand_id", "stance"])
            .index(&["brand_id", "relationship_status"])
            .index(&["brand_id", "next_contact_due_at"])
            .create(m)
            .await?;
        table("interaction")
            .tenant()
            .reference("brand_influencer_id", "brand_influencer", false, Cascade)
            .col(string("channel"))
            .col(string("direction"))
            .col(text("summary"))
            .col(timestamp_with_time_zone("occurred_at"))
            .reference("created_by", "user_account", true, SetNull)
            .col(timestamp_with_time_zone("created_at"))
            .index(&["brand_influencer_id", "occurred_at"])
            .create(m)
            .await?;
        table("idea")
            .tenant()
            .reference("brand_influencer_id", "brand_influencer", false, Cascade)
            .col(string("title"))
            .col(text("detail"))
            .col(string("status"))
            .col(boolean("reported_back").default(false).take())
            .col(json_binary("linked_mention_ids"))
            .col(json_binary("linked_interaction_ids"))
            .reference("created_by", "user_account", true, SetNull)
            .timestamps()
            .index(&["agency_id", "status"])
            .create(m)
            .await?;

        // --- SLAs -----------------------------------------------------------------------
        table("sla_policy")
            .tenant()
            // NULL brand: the agency's default policy.
            .reference("brand_id", "brand", true, Cascade)
            .col(json_binary("targets"))
            .col(json_binary("tier_targets"))
            .col(json_binary("business_hours"))
            .col(json_binary("holidays"))
            .col(boolean("always_open").default(false).take())
            .col(json_binary("escalation_contacts"))
            .timestamps()
            .create(m)
            .await?;
        table("ticket")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .reference("mention_id", "mention", false, Cascade)
            .col(string("priority"))
            .col(string("status"))
            .reference("assignee_membership_id", "membership", true, SetNull)
            .col(timestamp_with_time_zone("due_at"))
            .col(timestamp_with_time_zone("at_risk_at"))
            .col(timestamp_with_time_zone_null("first_response_at"))
            .col(text_null("response_text"))
            .col(string_null("response_channel"))
            .col(boolean("breached").default(false).take())
            .col(timestamp_with_time_zone_null("snoozed_until"))
            .col(timestamp_with_time_zone_null("closed_at"))
            .timestamps()
            .unique(&["mention_id"])
            .index(&["brand_id", "status", "due_at"])
            .index(&["brand_id", "priority"])
            .index(&["status", "at_risk_at"])
            .create(m)
            .await?;

        // --- crises ---------------------------------------------------------------------
        table("alert")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .col(string("kind"))
            .col(string("severity"))
            .col(string("status"))
            .reference("brand_value_id", "brand_value", true, SetNull)
            .col(timestamp_with_time_zone("window_start"))
            .col(timestamp_with_time_zone("window_end"))
            .col(json_binary("metrics"))
            .col(json_binary("explanation"))
            .col(timestamp_with_time_zone("opened_at"))
            .col(timestamp_with_time_zone_null("acknowledged_at"))
            .col(timestamp_with_time_zone_null("resolved_at"))
            .col(text_null("resolution_note"))
            .timestamps()
            .index(&["brand_id", "status", "kind"])
            .index(&["brand_id", "opened_at"])
            .create(m)
            .await?;
        link_table("alert_mention", &["alert_id", "mention_id"])
            .reference("alert_id", "alert", false, Cascade)
            .reference("mention_id", "mention", false, Cascade)
            .create(m)
            .await?;
        table("alert_event")
            .reference("alert_id", "alert", false, Cascade)
            .col(string("kind"))
            .reference("actor_user_id", "user_account", true, SetNull)
            .col(json_binary("detail"))
            .col(timestamp_with_time_zone("occurred_at"))
            .create(m)
            .await?;

        // --- CSR calendar ---------------------------------------------------------------
        table("csr_pillar")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .col(string("name"))
            .col(text("description"))
            .col(json_binary("commitments"))
            .col(double("target_share"))
            .timestamps()
            .unique(&["brand_id", "name"])
            .create(m)
            .await?;
        table("content_item")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            .col(string("channel"))
            .col(string("title"))
            .col(text("body"))
            .col(json_binary("media"))
            .col(timestamp_with_time_zone("scheduled_at"))
            .col(string("status"))
            .col(text_null("published_url"))
            .reference("hold_alert_id", "alert", true, SetNull)
            .reference("created_by", "user_account", true, SetNull)
            .timestamps()
            .index(&["brand_id", "scheduled_at"])
            .index(&["brand_id", "status"])
            .index(&["brand_id", "channel", "scheduled_at"])
            .create(m)
            .await?;
        link_table("content_item_pillar", &["content_item_id", "csr_pillar_id"])
            .reference("content_item_id", "content_item", false, Cascade)
            .reference("csr_pillar_id", "csr_pillar", false, Cascade)
            .create(m)
            .await?;
        link_table("content_item_value", &["content_item_id", "brand_value_id"])
            .reference("content_item_id", "content_item", false, Cascade)
            .reference("brand_value_id", "brand_value", false, Cascade)
            .create(m)
            .await?;
        table("content_comment")
            .tenant()
            .reference("content_item_id", "content_item", false, Cascade)
            .reference("author_user_id", "user_account", true, SetNull)
            .col(text("body"))
            .col(timestamp_with_time_zone("created_at"))
            .create(m)
            .await?;
        table("content_review")
            .tenant()
            .reference("content_item_id", "content_item", false, Cascade)
            .reference("reviewer_user_id", "user_account", true, SetNull)
            .col(string("from_status"))
            .col(string("to_status"))
            .col(text_null("note"))
            .col(timestamp_with_time_zone("created_at"))
            .create(m)
            .await?;

        // --- events and webhooks --------------------------------------------------------
        table("event")
            .tenant()
            .reference("brand_id", "brand", true, Cascade)
            .col(string("kind"))
            .col(json_binary("payload"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone_null("dispatched_at"))
            .index(&["dispatched_at", "created_at"])
            .index(&["agency_id", "kind", "created_at"])
            .create(m)
            .await?;
        table("webhook_endpoint")
            .tenant()
            .col(text("url"))
            .col(string_null("description"))
            .col(json_binary("event_types"))
            .col(json_binary("brand_ids"))
            .col(boolean("enabled").default(true).take())
            .col(string("secret"))
            .col(string_null("previous_secret"))
            .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
            .col(timestamp_with_time_zone_null("failing_since"))
            .col(timestamp_with_time_zone_null("disabled_at"))
            .timestamps()
            .create(m)
            .await?;
        table("webhook_delivery")
            .tenant()
            .reference("endpoint_id", "webhook_endpoint", false, Cascade)
            .reference("event_id", "event", false, Cascade)
            .col(string("status"))
            .col(integer("attempts").default(0).take())
            .col(timestamp_with_time_zone_null("next_attempt_at"))
            .col(integer_null("last_status_code"))
            .col(integer_null("last_latency_ms"))
            .col(text_null("last_response_excerpt"))
            .col(text_null("last_error"))
            .col(timestamp_with_time_zone_null("delivered_at"))
            .timestamps()
            .unique(&["endpoint_id", "event_id"])
            .index(&["status", "next_attempt_at"])
            .create(m)
            .await?;
        table("webhook_attempt")
            .reference("delivery_id", "webhook_delivery", false, Cascade)
            .col(timestamp_with_time_zone("attempted_at"))
            .col(integer_null("status_code"))
            .col(integer("latency_ms"))
            .col(text_null("response_excerpt"))
            .col(text_null("error"))
            .create(m)
            .await?;

        // --- reports, jobs, audit, email -----------------------------------------------
        table("report_share")
            .tenant()
            .reference("brand_id", "brand", false, Cascade)
            // `report` (a period's web report) or `calendar` (the iCal feed).
            .col(string("kind"))
            .col(string("token_hash"))
            .col(timestamp_with_time_zone_null("period_from"))
            .col(timestamp_with_time_zone_null("period_to"))
            .col(json_binary("sections"))
            .col(timestamp_with_time_zone_null("expires_at"))
            .col(timestamp_with_time_zone_null("revoked_at"))
            .col(timestamp_with_time_zone_null("last_accessed_at"))
            .reference("created_by", "user_account", true, SetNull)
            .col(timestamp_with_time_zone("created_at"))
            .unique(&["token_hash"])
            .create(m)
            .await?;
        table("job_failure")
            .reference("agency_id", "agency", true, Cascade)
            .col(string("job_id"))
            .col(string("kind"))
            .col(json_binary("payload"))
            .col(text("error"))
            .col(integer("attempts"))
            .col(timestamp_with_time_zone("failed_at"))
            .col(timestamp_with_time_zone_null("resolved_at"))
            .col(string_null("resolution"))
            .index(&["kind", "failed_at"])
            .create(m)
            .await?;
        table("audit_log")
            .tenant()
            .reference("actor_user_id", "user_account", true, SetNull)
            .col(string("action"))
            .col(string("target_type"))
            .col(uuid_null("target_id"))
            .col(json_binary("detail"))
            .col(timestamp_with_time_zone("created_at"))
            .index(&["agency_id", "created_at"])
            .create(m)
            .await?;
        table("email_outbox")
            .reference("agency_id", "agency", true, Cascade)
            .col(string("to_address"))
            .col(string("subject"))
            .col(text("text_body"))
            .col(text_null("html_body"))
            .col(string("status"))
            .col(integer("attempts").default(0).take())
            .col(text_null("last_error"))
            .col(timestamp_with_time_zone_null("claimed_until"))
            .col(timestamp_with_time_zone("created_at"))
            .col(timestamp_with_time_zone_null("sent_at"))
            .index(&["status", "created_at"])
            .create(m)
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let reversed: Vec<&'static str> = TABLES.iter().rev().copied().collect();
        drop_tables(m, &reversed).await
    }
}
