//! Webhooks end to end with the job runtime: a value-gap alert reaches a local receiver
//! signed per Standard Webhooks (checked here with an HMAC written from the spec, not
//! Vigie's code), after two 500s, with the same `webhook-id` on every try; a receiver
//! that is down ends failed and is replayed; rotation signs with both secrets; an
//! endpoint failing for days is disabled with an email; private addresses are refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;
use vigie_domain::System;
use vigie_domain::entities::webhook_endpoint;
use vigie_tests::smtp::SmtpServer;
use vigie_tests::{Backend, TestApp, assert_error, new_mention, on_both_databases, until};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// HMAC-SHA256 (RFC 2104), written out so the test does not trust Vigie's own.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

/// Verifies a request as a Standard Webhooks receiver does; returns its `webhook-id`.
fn verify(request: &Request, secret: &str) -> String {
    let header = |name: &str| request.headers.get(name).unwrap_or_else(|| panic!("no {name}")).to_str().unwrap();
    let (id, timestamp, signatures) = (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"));
    let sent: i64 = timestamp.parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent).abs() < 60, "timestamp within tolerance");
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)));
    assert!(signatures.split(' ').any(|s| s == expected), "no valid signature in `{signatures}`");
    assert_eq!(header("content-type"), "application/json");
    id.to_owned()
}

/// How long a delivery may take to show.
const WAIT: Duration = Duration::from_secs(20);

const DELIVERIES: &str = "query($e: ID!) { webhookDeliveries(endpointId: $e) { edges { node { id messageId eventType status attempts lastStatusCode lastError payload attemptLog { statusCode latencyMs responseExcerpt error } } } } }";
const CREATE: &str = "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { id secret enabled eventTypes } }";

async fn deliveries(app: &TestApp, token: &str, endpoint: &str) -> Vec<Value> {
    app.ok(Some(token), DELIVERIES, json!({ "e": endpoint })).await["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn signed_deliveries_retry_replay_and_disable(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_WEBHOOK_RETRIES", "100ms,100ms,100ms"),
            ("SMTP_URL", &smtp.url),
        ],
    )
    .await;
    let jobs = app.start_jobs();
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let token = owner.access_token.clone();
    let t = Some(token.as_str());
    let brand = app.create_brand(&token, "Verdure").await;
    let other_brand = app.create_brand(&token, "Other").await;
    app.ok(t, "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Zéro plastique\", keywords: [\"plastique\"] }) { id } }", json!({ "b": brand }))
        .await;
    let source = app.create_source(t, &brand).await;

    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500).set_body_string("temporarily broken"))
        .up_to_n_times(2)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
        .mount(&receiver)
        .await;
    let created = app
        .ok(t, CREATE, json!({ "input": { "url": format!("{}/hook", receiver.uri()), "eventTypes": ["value_gap.opened"], "brandIds": [brand] } }))
        .await["createWebhookEndpoint"]
        .clone();
    let endpoint = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let elsewhere = app
        .ok(
            t,
            CREATE,
            json!({ "input": { "url": format!("{}/elsewhere", receiver.uri()), "brandIds": [other_brand] } }),
        )
        .await["createWebhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A macro author denounces the value: the alert's event goes out.
    let star =
        new_mention("star-1", "star", "Verdure promet zéro plastique mais mon colis en est plein, honteux !", 800_000);
    app.collect(&source, vec![star]).await;
    vigie_domain::crises::detect::detect(System::for_tests(), &app.services, vigie_tests::db_id(&brand)).await.unwrap();
    until("three attempts at the receiver", WAIT, async || receiver.received_requests().await.unwrap().len() >= 3)
        .await;
    until("the delivery to be recorded as delivered", WAIT, async || {
        deliveries(&app, &token, &endpoint).await.first().is_some_and(|d| d["status"] == "DELIVERED")
    })
    .await;
    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "delivered on the third try, then left alone");
    let ids: Vec<String> = requests.iter().map(|r| verify(r, &secret)).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "the same webhook-id on every try: {ids:?}");
    assert_eq!(requests[0].body, requests[2].body, "the same body on every try");
    let body: Value = serde_json::from_slice(&requests[2].body).unwrap();
    assert_eq!(body["type"], "value_gap.opened");
    assert!(body["timestamp"].is_string());
    assert_eq!(body["data"]["alert"]["kind"], "value_gap");
    assert_eq!(body["data"]["alert"]["value"]["name"], "Zéro plastique");
    assert_eq!(body["data"]["alert"]["brandName"], "Verdure");

    let log = deliveries(&app, &token, &endpoint).await;
    assert_eq!(log.len(), 1);
    let delivery = &log[0];
    assert_eq!((delivery["attempts"].clone(), delivery["eventType"].clone()), (json!(3), json!("value_gap.opened")));
    assert_eq!(delivery["messageId"], ids[0].as_str());
    let codes: Vec<Value> =
        delivery["attemptLog"].as_array().unwrap().iter().map(|a| a["statusCode"].clone()).collect();
    assert_eq!(codes, vec![json!(500), json!(500), json!(200)]);
    assert_eq!(delivery["attemptLog"][0]["responseExcerpt"], "temporarily broken");
    assert!(deliveries(&app, &token, &elsewhere).await.is_empty(), "another brand's endpoint gets nothing");

    // A receiver that is down: the delivery ends failed, then is replayed to a live one.
    let down_url = format!("http://127.0.0.1:{}/hook", closed_port());
    let down = app
        .ok(t, CREATE, json!({ "input": { "url": down_url, "eventTypes": ["crisis.resolved"] } }))
        .await["createWebhookEndpoint"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let test = app
        .ok(t, "mutation($e: ID!) { sendTestEvent(endpointId: $e) { id status } }", json!({ "e": down }))
        .await["sendTestEvent"]
        .clone();
    until("the delivery to a dead receiver to fail for good", WAIT, async || {
        deliveries(&app, &token, &down).await.first().is_some_and(|d| d["status"] == "FAILED")
    })
    .await;
    let failed = &deliveries(&app, &token, &down).await[0];
    assert_eq!(failed["id"], test["id"]);
    assert_eq!(failed["attempts"], 4, "the first try and three retries");
    assert!(failed["lastStatusCode"].is_null());
    assert!(failed["lastError"].as_str().unwrap().contains("network error"), "{failed:#}");
    app.ok(
        t,
        "mutation($id: ID!, $u: String!) { updateWebhookEndpoint(input: { id: $id, url: $u }) { id } }",
        json!({ "id": down, "u": format!("{}/hook", receiver.uri()) }),
    )
    .await;
    let replayed =
        app.ok(t, "mutation($id: ID!) { replayDelivery(id: $id) { status } }", json!({ "id": failed["id"] })).await;
    assert_eq!(replayed["replayDelivery"]["status"], "PENDING");
    until("the replay to be delivered", WAIT, async || {
        deliveries(&app, &token, &down).await.first().is_some_and(|d| d["status"] == "DELIVERED")
    })
    .await;
    let last = receiver.received_requests().await.unwrap().pop().unwrap();
    let down_secret = webhook_endpoint::Entity::find_by_id(vigie_tests::db_id(&down))
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap()
        .secret;
    assert_eq!(verify(&last, &down_secret), failed["messageId"].as_str().unwrap(), "a replay keeps its webhook-id");
    assert_eq!(serde_json::from_slice::<Value>(&last.body).unwrap()["type"], "webhook.test");

    // Rotation: during the grace period both secrets sign.
    let rotated = app
        .ok(
            t,
            "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret previousSecretExpiresAt } }",
            json!({ "id": endpoint }),
        )
        .await["rotateWebhookSecret"]
        .clone();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(rotated["previousSecretExpiresAt"].is_string());
    app.ok(t, "mutation($e: ID!) { sendTestEvent(endpointId: $e) { id } }", json!({ "e": endpoint })).await;
    until("the test event after rotation", WAIT, async || receiver.received_requests().await.unwrap().len() >= 5).await;
    let last = receiver.received_requests().await.unwrap().pop().unwrap();
    verify(&last, &new_secret);
    verify(&last, &secret);
    assert_eq!(last.headers.get("webhook-signature").unwrap().to_str().unwrap().split(' ').count(), 2);

    // An endpoint failing for days is disabled, and the owner told by email.
    let mut row: webhook_endpoint::ActiveModel = webhook_endpoint::Entity::find_by_id(vigie_tests::db_id(&down))
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap()
        .into();
    row.url = Set(down_url.clone());
    row.failing_since = Set(Some(vigie_domain::now() - chrono::Duration::days(6)));
    row.update(&app.services.db).await.unwrap();
    app.ok(t, "mutation($e: ID!) { sendTestEvent(endpointId: $e) { id } }", json!({ "e": down })).await;
    let mail = smtp.wait_for("owner@agency.example").await;
    assert!(mail.raw.contains("Webhook endpoint disabled"), "{}", mail.raw);
    let listed = app.ok(t, "{ webhookEndpoints { id enabled disabledAt failingSince } }", json!({})).await;
    let down_now =
        listed["webhookEndpoints"].as_array().unwrap().iter().find(|e| e["id"] == down.as_str()).unwrap().clone();
    assert_eq!(down_now["enabled"], false);
    assert!(down_now["disabledAt"].is_string());
    let enabled = app
        .ok(t, "mutation($id: ID!) { updateWebhookEndpoint(input: { id: $id, enabled: true }) { enabled failingSince disabledAt } }", json!({ "id": down }))
        .await;
    assert_eq!(enabled["updateWebhookEndpoint"], json!({ "enabled": true, "failingSince": null, "disabledAt": null }));

    jobs.stop().await;
}
on_both_databases!(signed_deliveries_retry_replay_and_disable);

async fn endpoints_are_validated(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://93.184.216.34/hook",
    ] {
        let response = app.gql(t, CREATE, json!({ "input": { "url": url } })).await;
        assert_error(&response, "BAD_USER_INPUT");
    }
    let response = app
        .gql(t, CREATE, json!({ "input": { "url": "https://93.184.216.34/hook", "eventTypes": ["crisis.exploded"] } }))
        .await;
    assert_error(&response, "BAD_USER_INPUT");
    let ok = app.ok(t, CREATE, json!({ "input": { "url": "https://93.184.216.34/hook", "eventTypes": ["crisis.opened", "sla.breached"] } })).await;
    assert_eq!(ok["createWebhookEndpoint"]["eventTypes"], json!(["crisis.opened", "sla.breached"]));
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let member = app.invite_and_accept(&owner.access_token, "member@agency.example", "MEMBER", &[&brand]).await;
    assert_error(&app.gql(Some(&member.access_token), "{ webhookEndpoints { id } }", json!({})).await, "FORBIDDEN");
}
on_both_databases!(endpoints_are_validated);

/// A receiver that accepts the connection and never answers: its delivery is cut off at
/// `VIGIE_WEBHOOK_TIMEOUT_SECS` and retried, while deliveries to other receivers and the
/// API go on.
async fn a_hanging_receiver_holds_up_nothing(backend: Backend) {
    let app = TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_WEBHOOK_TIMEOUT_SECS", "1"),
            ("VIGIE_WEBHOOK_RETRIES", "100ms,100ms,100ms"),
        ],
    )
    .await;
    let jobs = app.start_jobs();
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let token = owner.access_token.clone();
    let t = Some(token.as_str());
    let hanging = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(600)))
        .mount(&hanging)
        .await;
    let healthy = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&healthy).await;
    let mut endpoints = Vec::new();
    for receiver in [&hanging, &healthy] {
        let input = json!({ "input": { "url": format!("{}/hook", receiver.uri()) } });
        let id = app.ok(t, CREATE, input).await["createWebhookEndpoint"]["id"].as_str().unwrap().to_owned();
        app.ok(t, "mutation($e: ID!) { sendTestEvent(endpointId: $e) { id } }", json!({ "e": id })).await;
        endpoints.push(id);
    }

    until("the healthy receiver's delivery", WAIT, async || {
        deliveries(&app, &token, &endpoints[1]).await.first().is_some_and(|d| d["status"] == "DELIVERED")
    })
    .await;
    until("the hanging receiver's delivery to be cut off twice", WAIT, async || {
        deliveries(&app, &token, &endpoints[0]).await.first().is_some_and(|d| d["attempts"].as_i64() >= Some(2))
    })
    .await;
    let cut = &deliveries(&app, &token, &endpoints[0]).await[0];
    assert_ne!(cut["status"], "DELIVERED");
    assert!(cut["lastStatusCode"].is_null(), "{cut:#}");
    assert!(cut["lastError"].as_str().unwrap().contains("timed out"), "{cut:#}");
    assert!(hanging.received_requests().await.unwrap().len() >= 2, "each try reached the receiver");
    // The API answers meanwhile.
    let me = app.ok(t, "{ me { role } }", json!({})).await;
    assert_eq!(me["me"]["role"], "OWNER");

    jobs.stop().await;
}
on_both_databases!(a_hanging_receiver_holds_up_nothing);
