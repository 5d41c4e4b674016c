//! Retention (`retention.prune`): what the machinery wrote more than the retention ago is
//! deleted, in batches that stop at a deadline, and nothing else: not an event that is young, undispatched or
//! still has a delivery to make, not an email waiting to be sent, not a refresh token
//! that still works.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::json;
use std::time::{Duration as StdDuration, Instant};
use uuid::Uuid;
use vigie_domain::System;
use vigie_domain::entities::{email_outbox, event, refresh_token, webhook_attempt, webhook_delivery, webhook_endpoint};
use vigie_domain::platform::retention::{Pruned, prune};
use vigie_tests::{Backend, TestApp, on_both_databases};

fn event_row(agency_id: Uuid, created_at: DateTime<Utc>, dispatched_at: Option<DateTime<Utc>>) -> event::ActiveModel {
    event::ActiveModel {
        id: Set(Uuid::now_v7()),
        agency_id: Set(agency_id),
        brand_id: Set(None),
        kind: Set("webhook.test".into()),
        payload: Set(json!({})),
        created_at: Set(created_at),
        dispatched_at: Set(dispatched_at),
        trace_parent: Set(None),
    }
}

fn delivery_row(agency_id: Uuid, endpoint_id: Uuid, event_id: Uuid, status: &str) -> webhook_delivery::ActiveModel {
    let at = vigie_domain::now();
    webhook_delivery::ActiveModel {
        id: Set(Uuid::now_v7()),
        agency_id: Set(agency_id),
        endpoint_id: Set(endpoint_id),
        event_id: Set(event_id),
        status: Set(status.into()),
        attempts: Set(1),
        next_attempt_at: Set(None),
        last_status_code: Set(None),
        last_latency_ms: Set(None),
        last_response_excerpt: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        payload: Set("{}".into()),
    }
}

fn email_row(status: &str, created_at: DateTime<Utc>) -> email_outbox::ActiveModel {
    email_outbox::ActiveModel {
        id: Set(Uuid::now_v7()),
        agency_id: Set(None),
        to_address: Set("someone@example.com".into()),
        subject: Set(format!("{status} at {created_at}")),
        text_body: Set("Hello".into()),
        html_body: Set(None),
        status: Set(status.into()),
        attempts: Set(1),
        last_error: Set(None),
        claimed_until: Set(None),
        created_at: Set(created_at),
        sent_at: Set(None),
    }
}

async fn prunes_only_what_is_past_retention(backend: Backend) {
    // The endpoint is never called; it is on loopback only because nothing else is.
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let db = &app.services.db;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = Some(owner.access_token.as_str());
    let agency_id = vigie_tests::db_id(&owner.agency_id);
    let user_id = vigie_tests::db_id(&owner.user_id);
    let endpoint = app
        .ok(
            t,
            "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { id } }",
            json!({ "i": { "url": "http://127.0.0.1:9/hook" } }),
        )
        .await["createWebhookEndpoint"]["id"]
        .as_str()
        .map(vigie_tests::db_id)
        .unwrap();

    let now = vigie_domain::now();
    let (old, young) = (now - Duration::days(40), now - Duration::days(1));
    let cutoff = now - Duration::days(30);

    // Past retention, and settled: 1,500 without deliveries (more than one batch), one
    // delivered with its attempt, one whose delivery failed for good.
    let settled: Vec<event::ActiveModel> = (0..1_500).map(|_| event_row(agency_id, old, Some(old))).collect();
    for chunk in settled.chunks(250) {
        event::Entity::insert_many(chunk.to_vec()).exec_without_returning(db).await.unwrap();
    }
    let delivered = event_row(agency_id, old, Some(old));
    let failed = event_row(agency_id, old, Some(old));
    // Kept: a delivery still retrying, a young event, an event never dispatched.
    let retrying = event_row(agency_id, old, Some(old));
    let recent = event_row(agency_id, young, Some(young));
    let undispatched = event_row(agency_id, old, None);
    let kept_ids = [&retrying, &recent, &undispatched].map(|e| e.id.clone().unwrap());
    let (delivered_id, failed_id, retrying_id) =
        (delivered.id.clone().unwrap(), failed.id.clone().unwrap(), retrying.id.clone().unwrap());
    event::Entity::insert_many([delivered, failed, retrying, recent, undispatched])
        .exec_without_returning(db)
        .await
        .unwrap();
    let done = delivery_row(agency_id, endpoint, delivered_id, "delivered");
    let done_id = done.id.clone().unwrap();
    webhook_delivery::Entity::insert_many([
        done,
        delivery_row(agency_id, endpoint, failed_id, "failed"),
        delivery_row(agency_id, endpoint, retrying_id, "pending"),
    ])
    .exec_without_returning(db)
    .await
    .unwrap();
    webhook_attempt::Entity::insert(webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        delivery_id: Set(done_id),
        attempted_at: Set(old),
        status_code: Set(Some(200)),
        latency_ms: Set(12),
        response_excerpt: Set(None),
        error: Set(None),
    })
    .exec_without_returning(db)
    .await
    .unwrap();

    // Emails: sent, logged and failed long ago go; one waiting and a recent one stay.
    email_outbox::Entity::insert_many([
        email_row("sent", old),
        email_row("logged", old),
        email_row("failed", old),
        email_row("pending", old),
        email_row("sent", young),
    ])
    .exec_without_returning(db)
    .await
    .unwrap();

    // Refresh tokens: one expired long ago goes; the sign-up's own stays.
    let expired = refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        agency_id: Set(agency_id),
        user_id: Set(user_id),
        family_id: Set(Uuid::now_v7()),
        token_hash: Set("expired-token-hash".into()),
        expires_at: Set(old),
        used_at: Set(None),
        revoked_at: Set(None),
        created_at: Set(old - Duration::days(30)),
    };
    refresh_token::Entity::insert(expired).exec_without_returning(db).await.unwrap();
    let tokens_before = refresh_token::Entity::find().count(db).await.unwrap();

    // A pass out of time still deletes a batch of each table, and says it is not done.
    let first = prune(System::for_tests(), db, cutoff, Instant::now()).await.unwrap();
    assert_eq!(first, Pruned { events: 1_000, emails: 3, refresh_tokens: 1, finished: false });
    let rest = prune(System::for_tests(), db, cutoff, Instant::now() + StdDuration::from_secs(60)).await.unwrap();
    assert_eq!(rest, Pruned { events: 502, emails: 0, refresh_tokens: 0, finished: true });

    let mut left: Vec<Uuid> = event::Entity::find().all(db).await.unwrap().into_iter().map(|e| e.id).collect();
    left.sort();
    let mut expected = kept_ids.to_vec();
    expected.sort();
    assert_eq!(left, expected, "the retrying, the recent and the undispatched events are kept");
    let deliveries = webhook_delivery::Entity::find().all(db).await.unwrap();
    assert_eq!(deliveries.len(), 1, "the settled deliveries went with their events");
    assert_eq!((deliveries[0].event_id, deliveries[0].status.as_str()), (retrying_id, "pending"));
    assert_eq!(webhook_attempt::Entity::find().count(db).await.unwrap(), 0, "attempts went with their delivery");
    let mut emails: Vec<String> = email_outbox::Entity::find()
        .filter(email_outbox::Column::ToAddress.eq("someone@example.com"))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.status)
        .collect();
    emails.sort();
    assert_eq!(emails, ["pending", "sent"]);
    let tokens = refresh_token::Entity::find().all(db).await.unwrap();
    assert_eq!(tokens.len() as u64, tokens_before - 1);
    assert!(tokens.iter().all(|t| t.expires_at > now), "only expired tokens go");
    assert_eq!(
        webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::Id.eq(endpoint)).count(db).await.unwrap(),
        1,
        "endpoints are the agency's settings, never pruned"
    );

    // The sign-up still refreshes, and a second pass finds nothing more to do.
    let refreshed = app
        .ok(
            None,
            "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken } }",
            json!({ "r": owner.refresh_token }),
        )
        .await;
    assert!(refreshed["refreshToken"]["accessToken"].is_string());
    let again = prune(System::for_tests(), db, cutoff, Instant::now() + StdDuration::from_secs(60)).await.unwrap();
    assert_eq!(again, Pruned { events: 0, emails: 0, refresh_tokens: 0, finished: true });
}
on_both_databases!(prunes_only_what_is_past_retention);

/// Mentions older than their brand's retention go, with their tickets; younger ones and
/// other brands' stay; the setting is checked and a run stops at its deadline.
async fn mentions_past_their_brands_retention_go(backend: Backend) {
    use vigie_domain::entities::{mention, ticket};
    use vigie_domain::mentions::retention::prune as prune_mentions;
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let create = "mutation($n: String!, $m: Int) { createBrand(input: { name: $n, timeZone: \"Europe/Paris\", mentionRetentionMonths: $m }) { id mentionRetentionMonths } }";
    let short = app.ok(t, create, json!({ "n": "Verdure", "m": 3 })).await["createBrand"].clone();
    assert_eq!(short["mentionRetentionMonths"], 3);
    let long = app.ok(t, create, json!({ "n": "Fournée", "m": null })).await["createBrand"].clone();
    assert_eq!(long["mentionRetentionMonths"], 24, "the default");
    vigie_tests::assert_error(&app.gql(t, create, json!({ "n": "Too short", "m": 2 })).await, "BAD_USER_INPUT");
    let update = "mutation($b: ID!, $m: Int) { updateBrand(input: { id: $b, mentionRetentionMonths: $m }) { mentionRetentionMonths } }";
    vigie_tests::assert_error(&app.gql(t, update, json!({ "b": long["id"], "m": 121 })).await, "BAD_USER_INPUT");

    let now = vigie_domain::now();
    let at = |id: &str, days: i64| {
        let mut m = vigie_tests::new_mention(id, "@client", "Bonjour, où est ma commande ? Merci de me répondre", 100);
        m.direct = true;
        m.published_at = now - Duration::days(days);
        m
    };
    let short_source = app.create_source(t, short["id"].as_str().unwrap()).await;
    let long_source = app.create_source(t, long["id"].as_str().unwrap()).await;
    app.collect(&short_source, vec![at("old", 120), at("recent", 30)]).await;
    app.collect(&long_source, vec![at("old-elsewhere", 120)]).await;
    let db = &app.services.db;
    let old = mention::Entity::find().filter(mention::Column::ExternalId.eq("old")).one(db).await.unwrap().unwrap();
    let tickets = || ticket::Entity::find().filter(ticket::Column::MentionId.eq(old.id)).count(db);
    assert_eq!(tickets().await.unwrap(), 1, "the old direct question opened a ticket");

    let past = Instant::now() - StdDuration::from_secs(1);
    let stopped = prune_mentions(System::for_tests(), db, now, past).await.unwrap();
    assert_eq!((stopped.mentions, stopped.finished), (0, false), "a run stops at its deadline");
    let later = Instant::now() + StdDuration::from_secs(60);
    let pruned = prune_mentions(System::for_tests(), db, now, later).await.unwrap();
    assert_eq!((pruned.mentions, pruned.finished), (1, true));
    let left: Vec<String> = mention::Entity::find().all(db).await.unwrap().into_iter().map(|m| m.external_id).collect();
    assert!(left.contains(&"recent".to_owned()) && left.contains(&"old-elsewhere".to_owned()), "{left:?}");
    assert!(!left.contains(&"old".to_owned()));
    assert_eq!(tickets().await.unwrap(), 0, "its ticket went with it");
    assert_eq!(prune_mentions(System::for_tests(), db, now, later).await.unwrap().mentions, 0, "nothing twice");
}
on_both_databases!(mentions_past_their_brands_retention_go);
