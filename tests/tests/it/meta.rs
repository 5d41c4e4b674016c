//! Facebook Pages and Instagram professional accounts through Facebook Login, against a
//! local server speaking Graph API v21.0: the token endpoint (the app secret in the
//! form), the long-lived token exchange, `/me/accounts` with Page tokens, Page feeds
//! with nested comments, `/tagged`, Instagram media, tags and hashtag search, errors as
//! `{"error": {"code"}}` under HTTP 400 with `X-Business-Use-Case-Usage`, replies, and
//! Meta's webhooks (verification and `X-Hub-Signature-256` deliveries).

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use vigie_domain::connections::oauth::{self, Callback};
use vigie_domain::entities::{connection, event, mention, reply, source, ticket};
use vigie_domain::{System, sources};
use vigie_tests::{ApiServer, Backend, TestApp, assert_error, eventually, on_both_databases};
use wiremock::matchers::{body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "meta-app-secret";
const VERIFY: &str = "verify-token-0123456789";
const PAGE: &str = "104";
const OTHER_PAGE: &str = "105";
const PAGE_TOKEN: &str = "EAAG-page-104";
const IG: &str = "17841400000000001";

async fn app_with_meta(backend: Backend, meta: &MockServer) -> TestApp {
    let base = meta.uri();
    TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_PUBLIC_URL", "https://vigie.example"),
            ("VIGIE_META_CLIENT_ID", "1234567890"),
            ("VIGIE_META_CLIENT_SECRET", SECRET),
            ("VIGIE_META_AUTH_URL", &format!("{base}/v21.0/dialog/oauth")),
            ("VIGIE_META_TOKEN_URL", &format!("{base}/v21.0/oauth/access_token")),
            ("VIGIE_META_API_URL", &format!("{base}/v21.0")),
            ("VIGIE_META_VERIFY_TOKEN", VERIFY),
        ],
    )
    .await
}

fn hmac_hex(key: &str, data: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A Graph GET of `path` with the Page token and its proof.
fn graph(path_: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/v21.0/{path_}")))
        .and(query_param("appsecret_proof", hmac_hex(SECRET, PAGE_TOKEN.as_bytes())))
        .and(wiremock::matchers::header("authorization", format!("Bearer {PAGE_TOKEN}").as_str()))
}

fn usage(percent: u32, minutes: u32) -> String {
    json!({ PAGE: [{ "type": "pages", "call_count": percent, "total_cputime": 3, "total_time": 4,
        "estimated_time_to_regain_access": minutes }] })
    .to_string()
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body).insert_header("x-business-use-case-usage", usage(12, 0).as_str())
}

fn graph_error(code: i64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({ "error": {
        "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "A1b2C3"
    } }))
}

/// Connects `network` through Facebook Login: the consent grants two Pages, one with an
/// Instagram account; `choose` names the account to keep.
async fn consent(app: &TestApp, meta: &MockServer, token: &str, brand: &str, network: &str) -> oauth::Consented {
    let start = "mutation($i: StartOAuthConnectionInput!) { startOAuthConnection(input: $i) { url } }";
    let started = app.ok(Some(token), start, json!({ "i": { "network": network, "brandId": brand } })).await;
    let url = url::Url::parse(started["startOAuthConnection"]["url"].as_str().unwrap()).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], "1234567890");
    assert!(params["scope"].split(',').any(|s| s == "pages_show_list"), "comma-separated: {}", params["scope"]);
    assert_eq!(params["redirect_uri"], format!("https://vigie.example/oauth/{}/callback", network.to_lowercase()));
    meta.reset().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/oauth/access_token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains(format!("client_secret={SECRET}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "EAAG-short", "token_type": "bearer", "expires_in": 5400
        })))
        .mount(meta)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/oauth/access_token"))
        .and(query_param("grant_type", "fb_exchange_token"))
        .and(query_param("fb_exchange_token", "EAAG-short"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "EAAG-long", "token_type": "bearer", "expires_in": 5183944
        })))
        .mount(meta)
        .await;
    Mock::given(method("GET"))
        .and(path("/v21.0/me/accounts"))
        .and(query_param("appsecret_proof", hmac_hex(SECRET, b"EAAG-long")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [
                { "id": PAGE, "name": "Verdure", "access_token": PAGE_TOKEN, "tasks": ["MODERATE", "MANAGE"],
                  "instagram_business_account": { "id": IG, "username": "verdure.fr" } },
                { "id": OTHER_PAGE, "name": "Verdure Outlet", "access_token": "EAAG-page-105", "tasks": ["MODERATE"] }
            ],
            "paging": { "cursors": { "before": "QVFI", "after": "QVFJ" } }
        })))
        .mount(meta)
        .await;
    let callback = Callback { code: Some("AQD-code".into()), state: Some(params["state"].clone()), error: None };
    oauth::callback(&app.services, &network.to_lowercase(), callback).await.unwrap()
}

fn comment(id: &str, from: (&str, &str), text: &str, at: &str, parent: Option<(&str, &str)>) -> Value {
    let mut c = json!({
        "id": id, "message": text, "created_time": at, "from": { "id": from.0, "name": from.1 },
        "permalink_url": format!("https://www.facebook.com/{id}"), "like_count": 2, "comment_count": 0
    });
    if let Some((parent, by)) = parent {
        c["parent"] = json!({ "id": parent, "from": { "id": by } });
    }
    c
}

async fn event_count(app: &TestApp, kind: &str) -> usize {
    event::Entity::find().filter(event::Column::Kind.eq(kind)).all(&app.services.db).await.unwrap().len()
}

const TICKET: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status responseChannel replies { status url externalId lastError } } } }";
const RESPOND: &str =
    "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status } }";

async fn ticket_of(app: &TestApp, external_id: &str) -> Option<ticket::Model> {
    let mention = mention::Entity::find()
        .filter(mention::Column::ExternalId.eq(external_id))
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{external_id} is stored"));
    ticket::Entity::find().filter(ticket::Column::MentionId.eq(mention.id)).one(&app.services.db).await.unwrap()
}

async fn facebook_pages_comments_webhooks_and_replies(backend: Backend) {
    let meta = MockServer::start().await;
    let app = app_with_meta(backend, &meta).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;

    // The consent granted two Pages: completing it names one, and the ticket stays good
    // until then.
    let consented = consent(&app, &meta, t, &brand, "FACEBOOK").await;
    assert_eq!(consented.choices.len(), 2, "{consented:?}");
    Mock::given(method("POST"))
        .and(path(format!("/v21.0/{PAGE}/subscribed_apps")))
        .and(body_string_contains("subscribed_fields=feed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "success": true })))
        .expect(1)
        .mount(&meta)
        .await;
    let complete = "mutation($t: String!, $a: String) { completeOAuthConnection(ticket: $t, account: $a) { id account accountId expiresAt healthy } }";
    let unnamed = app.gql(Some(t), complete, json!({ "t": consented.ticket })).await;
    assert_error(&unnamed, "BAD_USER_INPUT");
    assert!(unnamed.to_string().contains("Verdure Outlet"), "the choices are listed: {unnamed}");
    assert_error(&app.gql(Some(t), complete, json!({ "t": consented.ticket, "a": "999" })).await, "BAD_USER_INPUT");
    let connection =
        app.ok(Some(t), complete, json!({ "t": consented.ticket, "a": PAGE })).await["completeOAuthConnection"].clone();
    assert_eq!((connection["account"].clone(), connection["accountId"].clone()), (json!("Verdure"), json!(PAGE)));
    assert_eq!(connection["expiresAt"], Value::Null, "a Page token does not expire");
    meta.verify().await;
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert!(!row.secret.contains(PAGE_TOKEN) && !row.secret.contains("EAAG-long"), "tokens are sealed");
    let connection_id = connection["id"].as_str().unwrap().to_owned();

    // A source reads its connection's own Page only.
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
    let input = |target: &str| json!({ "i": { "brandId": brand, "network": "FACEBOOK", "kind": "ACCOUNT", "target": target, "connectionId": connection_id } });
    assert_error(&app.gql(Some(t), create, input(OTHER_PAGE)).await, "BAD_USER_INPUT");
    assert_error(&app.gql(Some(t), create, input("104/../me")).await, "BAD_USER_INPUT");
    let source_id = app.ok(Some(t), create, input(PAGE)).await["createSource"]["id"].as_str().unwrap().to_owned();
    let poll = || sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(&source_id));

    // First poll: the Page's posts with their comments nested. A customer's question on
    // the Page's post opens a ticket; a reply between two visitors does not; the Page's
    // own answer is not a mention; a visitor's post on the Page is one. Tagged posts
    // need Page Public Content Access, refused here: the poll still succeeds.
    let post = format!("{PAGE}_900");
    graph(&format!("{PAGE}/feed"))
        .and(query_param("limit", "25"))
        .respond_with(ok(json!({
            "data": [
                { "id": post, "message": "Nos recharges arrivent en boutique !", "created_time": "2026-12-01T09:00:00+0000",
                  "from": { "id": PAGE, "name": "Verdure" },
                  "comments": { "data": [
                      comment("900_3", (PAGE, "Verdure"), "Bonjour Jeanne, écrivez-nous en privé.", "2026-12-01T10:30:00+0000", Some(("900_1", "501"))),
                      comment("900_2", ("502", "Paul"), "Quelqu'un sait pourquoi c'est si cher ?", "2026-12-01T10:20:00+0000", Some(("900_1", "501"))),
                      comment("900_1", ("501", "Jeanne"), "Pourquoi ma commande n'est toujours pas arrivée ?", "2026-12-01T10:00:00+0000", None)
                  ], "paging": { "cursors": { "before": "b", "after": "a" } } } },
                { "id": format!("{PAGE}_901"), "message": "Ma recharge fuit, que faire ?", "created_time": "2026-12-01T08:00:00+0000",
                  "from": { "id": "503", "name": "Lina" } }
            ],
            "paging": { "cursors": { "before": "x", "after": "y" }, "next": "https://graph.facebook.com/v21.0/104/feed?after=y" }
        })))
        .up_to_n_times(1)
        .mount(&meta)
        .await;
    graph(&format!("{PAGE}/tagged"))
        .respond_with(graph_error(10, "(#10) This endpoint requires the 'Page Public Content Access' feature"))
        .mount(&meta)
        .await;
    assert_eq!(poll().await.unwrap(), sources::PollReport { stored: 3, error: None });
    let stored = mention::Entity::find().all(&app.services.db).await.unwrap();
    assert!(stored.iter().all(|m| m.external_id != "900_3"), "the Page's own answer");
    let question = stored.iter().find(|m| m.external_id == "900_1").unwrap();
    assert_eq!((question.in_reply_to.as_deref(), question.network.as_str()), (Some(post.as_str()), "facebook"));
    assert!(ticket_of(&app, "900_1").await.is_some(), "a question on the Page's post opens a ticket");
    assert!(ticket_of(&app, "900_2").await.is_none(), "a question between two visitors does not");
    assert!(ticket_of(&app, &format!("{PAGE}_901")).await.is_some(), "a visitor's post on the Page");
    let health =
        source::Entity::find_by_id(vigie_tests::db_id(&source_id)).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(health.quota_remaining, Some(88), "what X-Business-Use-Case-Usage leaves");

    // A busy thread: its first page is all new, so its next page is read too, without
    // the token Graph repeats in the link (the header carries it) and with the proof.
    let next = format!("{}/v21.0/{post}/comments?after=QVFIUk&limit=50&access_token=EAAG-leaked", meta.uri());
    let fresh = |id: &str, minute: u32| {
        comment(id, ("506", "Léa"), "Et pour les recharges ?", &format!("2026-12-02T10:{minute:02}:00+0000"), None)
    };
    graph(&format!("{PAGE}/feed"))
        .respond_with(ok(json!({ "data": [{
            "id": post, "message": "Nos recharges arrivent en boutique !", "created_time": "2026-12-01T09:00:00+0000",
            "from": { "id": PAGE, "name": "Verdure" },
            "comments": { "data": [fresh("900_11", 30), fresh("900_10", 20)],
                "paging": { "cursors": { "before": "b", "after": "QVFIUk" }, "next": next } }
        }] })))
        .up_to_n_times(1)
        .mount(&meta)
        .await;
    graph(&format!("{post}/comments"))
        .and(query_param("after", "QVFIUk"))
        .respond_with(ok(json!({ "data": [fresh("900_9", 10), comment("900_1", ("501", "Jeanne"), "Pourquoi ma commande n'est toujours pas arrivée ?", "2026-12-01T10:00:00+0000", None)] })))
        .expect(1)
        .mount(&meta)
        .await;
    assert_eq!(poll().await.unwrap().error, None);
    let paged = meta.received_requests().await.unwrap();
    let followed = paged.iter().find(|r| r.url.path() == format!("/v21.0/{post}/comments")).unwrap();
    assert!(!followed.url.query().unwrap().contains("access_token"), "{}", followed.url);
    for id in ["900_9", "900_10", "900_11"] {
        assert!(
            mention::Entity::find()
                .filter(mention::Column::ExternalId.eq(id))
                .one(&app.services.db)
                .await
                .unwrap()
                .is_some(),
            "{id}"
        );
    }

    // A body that is not Graph's (a proxy's page) fails the poll, and stores nothing.
    graph(&format!("{PAGE}/feed"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>Service Unavailable</html>"))
        .up_to_n_times(1)
        .mount(&meta)
        .await;
    let malformed = poll().await.unwrap();
    assert!(malformed.error.as_deref().is_some_and(|e| e.contains("malformed")), "{malformed:?}");

    // Then the Page's calls are rate-limited (code 80001); Graph says when
    // access returns, and the source waits that long.
    graph(&format!("{PAGE}/feed"))
        .respond_with(
            graph_error(80001, "There have been too many calls to this Page account.")
                .insert_header("x-business-use-case-usage", usage(100, 7).as_str()),
        )
        .up_to_n_times(1)
        .mount(&meta)
        .await;
    let limited = poll().await.unwrap();
    assert!(limited.error.as_deref().is_some_and(|e| e.contains("rate limited")), "{limited:?}");
    let waiting =
        source::Entity::find_by_id(vigie_tests::db_id(&source_id)).one(&app.services.db).await.unwrap().unwrap();
    assert!(waiting.next_poll_at.unwrap() > chrono::Utc::now() + chrono::Duration::minutes(6), "{waiting:?}");

    // Webhooks: Meta verifies the callback with the operator's token, then delivers
    // comments signed with the app secret; an unsigned or forged delivery stores nothing.
    let api = ApiServer::start(app.services.config.clone()).await;
    let http = reqwest::Client::new();
    let verify = |token: &str| {
        http.get(format!("{}/webhooks/meta", api.base))
            .query(&[("hub.mode", "subscribe"), ("hub.verify_token", token), ("hub.challenge", "1158201444")])
            .send()
    };
    let verified = verify(VERIFY).await.unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(verified.text().await.unwrap(), "1158201444");
    assert_eq!(verify("guess-guess-guess-guess").await.unwrap().status(), 403);
    let delivery = json!({ "object": "page", "entry": [{ "id": PAGE, "time": 1764930000, "changes": [
        { "field": "feed", "value": {
            "from": { "id": "504", "name": "Hugo" }, "item": "comment", "verb": "add",
            "comment_id": "900_7", "post_id": post, "parent_id": "900_3",
            "created_time": 1764929990, "message": "Est-ce que la boutique de Lyon est ouverte dimanche ?",
            "post": { "id": post, "status_type": "mobile_status_update", "is_published": true }
        } },
        { "field": "feed", "value": { "item": "reaction", "verb": "add", "post_id": post, "reaction_type": "like",
            "from": { "id": "505", "name": "Zoé" }, "created_time": 1764929991 } }
    ] }] })
    .to_string();
    let deliver = |signature: Option<String>, body: String| {
        let mut request =
            http.post(format!("{}/webhooks/meta", api.base)).header("content-type", "application/json").body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send()
    };
    assert_eq!(deliver(None, delivery.clone()).await.unwrap().status(), 401);
    let forged = format!("sha256={}", hmac_hex("not-the-secret", delivery.as_bytes()));
    assert_eq!(deliver(Some(forged), delivery.clone()).await.unwrap().status(), 401);
    assert!(
        mention::Entity::find()
            .filter(mention::Column::ExternalId.eq("900_7"))
            .one(&app.services.db)
            .await
            .unwrap()
            .is_none()
    );
    // A signed delivery only names the comment: a job reads it from Graph, with its
    // parent's author (the Page: an answer to the brand), and stores it as a poll would.
    graph("")
        .and(query_param("ids", "900_7"))
        .respond_with(ok(json!({ "900_7": comment(
            "900_7", ("504", "Hugo"), "Est-ce que la boutique de Lyon est ouverte dimanche ?",
            "2026-12-05T10:19:50+0000", Some(("900_3", PAGE))
        ) })))
        .expect(2)
        .mount(&meta)
        .await;
    let signed = format!("sha256={}", hmac_hex(SECRET, delivery.as_bytes()));
    assert_eq!(deliver(Some(signed.clone()), delivery.clone()).await.unwrap().status(), 200);
    assert_eq!(deliver(Some(signed), delivery.clone()).await.unwrap().status(), 200, "sent again");
    let unreadable = "{not json";
    let signed = format!("sha256={}", hmac_hex(SECRET, unreadable.as_bytes()));
    assert_eq!(deliver(Some(signed), unreadable.into()).await.unwrap().status(), 200, "dropped, not retried by Meta");
    let jobs = app.start_jobs();
    let delivered = eventually("the notified comment is stored", Duration::from_secs(30), async || {
        let found = mention::Entity::find()
            .filter(mention::Column::ExternalId.eq("900_7"))
            .all(&app.services.db)
            .await
            .unwrap();
        if found.is_empty() { Err("not yet".to_owned()) } else { Ok(found) }
    })
    .await;
    jobs.stop().await;
    assert_eq!(delivered.len(), 1, "stored once");
    assert_eq!(delivered[0].source_id, vigie_tests::db_id(&source_id));
    assert_eq!(delivered[0].url.as_deref(), Some("https://www.facebook.com/900_7"));
    assert!(ticket_of(&app, "900_7").await.is_some(), "an answer to the Page's comment opens its ticket");
    api.stop().await;

    // Answering: the reply goes under the comment's thread as the Page.
    let question = ticket_of(&app, "900_1").await.unwrap();
    let ticket_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, question.id).0;
    let text = "Bonjour Jeanne, nous regardons votre commande tout de suite.";
    graph("900_1")
        .and(query_param("fields", "parent{id}"))
        .respond_with(ok(json!({ "id": "900_1" })))
        .mount(&meta)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/900_1/comments"))
        .and(body_string_contains("message=Bonjour+Jeanne"))
        .and(query_param("appsecret_proof", hmac_hex(SECRET, PAGE_TOKEN.as_bytes())))
        .respond_with(ok(json!({ "id": "900_1_77" })))
        .expect(1)
        .mount(&meta)
        .await;
    assert_error(
        &app.gql(Some(t), RESPOND, json!({ "id": ticket_id, "text": "x".repeat(8_001) })).await,
        "BAD_USER_INPUT",
    );
    app.ok(Some(t), RESPOND, json!({ "id": ticket_id, "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": ticket_id })).await["node"].clone();
    assert_eq!(
        (done["status"].clone(), done["responseChannel"].clone()),
        (json!("ANSWERED"), json!("facebook")),
        "{done}"
    );
    assert_eq!(done["replies"][0]["externalId"], "900_1_77");
    assert_eq!(done["replies"][0]["url"], "https://www.facebook.com/900_1_77");
    meta.verify().await;

    // One 190 that the token, checked on its own (`/me`), does not confirm leaves the
    // connection as it is.
    let revoked =
        || graph_error(190, "Error validating access token: The user has not authorized application 1234567890.");
    graph(&format!("{PAGE}/feed")).respond_with(revoked()).up_to_n_times(1).mount(&meta).await;
    graph("me").respond_with(ok(json!({ "id": PAGE, "name": "Verdure" }))).up_to_n_times(1).mount(&meta).await;
    let once = poll().await.unwrap();
    assert!(once.error.as_deref().is_some_and(|e| e.contains("refused the token once")), "{once:?}");
    assert!(connection::Entity::find().one(&app.services.db).await.unwrap().unwrap().healthy);

    // The Page token is revoked (the manager removed the app): code 190, confirmed,
    // makes the connection unhealthy, with one event, and its sources wait for a
    // reconnection.
    graph(&format!("{PAGE}/feed")).respond_with(revoked()).mount(&meta).await;
    graph("me").respond_with(revoked()).mount(&meta).await;
    let refused = poll().await.unwrap();
    assert!(refused.error.as_deref().is_some_and(|e| e.contains("reconnect")), "{refused:?}");
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert!(!row.healthy);
    assert_eq!(event_count(&app, "connection.unhealthy").await, 1);
    poll().await.unwrap();
    assert_eq!(event_count(&app, "connection.unhealthy").await, 1, "once");
}
on_both_databases!(facebook_pages_comments_webhooks_and_replies);

async fn instagram_comments_tags_hashtags_and_replies(backend: Backend) {
    let meta = MockServer::start().await;
    let app = app_with_meta(backend, &meta).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;

    // Only one of the granted Pages has an Instagram account: it is the connection.
    let consented = consent(&app, &meta, t, &brand, "INSTAGRAM").await;
    assert!(consented.choices.is_empty(), "{consented:?}");
    assert_eq!(consented.account, "verdure.fr");
    let complete = "mutation($t: String!) { completeOAuthConnection(ticket: $t) { id account accountId } }";
    let connection =
        app.ok(Some(t), complete, json!({ "t": consented.ticket })).await["completeOAuthConnection"].clone();
    assert_eq!(connection["accountId"], IG);
    let connection_id = connection["id"].as_str().unwrap().to_owned();
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
    let input = |kind: &str, target: &str| json!({ "i": { "brandId": brand, "network": "INSTAGRAM", "kind": kind, "target": target, "connectionId": connection_id } });
    let account =
        app.ok(Some(t), create, input("ACCOUNT", IG)).await["createSource"]["id"].as_str().unwrap().to_owned();
    let hashtag = app.ok(Some(t), create, input("SEARCH", "#ZeroDechet")).await["createSource"].clone();
    assert_eq!(hashtag["target"], "zerodechet");
    let hashtag = hashtag["id"].as_str().unwrap().to_owned();
    let poll = |id: &str| sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(id));

    // The account's media with their comments and replies, and media tagging it.
    let ig_comment = |id: &str, user: &str, text: &str, parent: Option<&str>| {
        let mut c = json!({ "id": id, "text": text, "timestamp": "2026-12-01T10:00:00+0000", "username": user,
            "from": { "id": format!("9{id}"), "username": user }, "like_count": 1 });
        if let Some(parent) = parent {
            c["parent_id"] = json!(parent);
        }
        c
    };
    graph(&format!("{IG}/media"))
        .respond_with(ok(json!({ "data": [{
            "id": "17900000000000001", "caption": "Nouvelle gamme", "timestamp": "2026-11-30T10:00:00+0000",
            "permalink": "https://www.instagram.com/p/C0abc/", "username": "verdure.fr", "like_count": 40, "comments_count": 3,
            "comments": { "data": [{
                "id": "17950000000000001", "text": "Vous livrez en Belgique ?", "timestamp": "2026-12-01T10:00:00+0000",
                "username": "lea.b", "from": { "id": "801", "username": "lea.b" }, "like_count": 2,
                "replies": { "data": [
                    ig_comment("17950000000000002", "verdure.fr", "Oui, depuis lundi !", Some("17950000000000001")),
                    ig_comment("17950000000000003", "tom_r", "Et en Suisse ?", Some("17950000000000001"))
                ] }
            }] }
        }] })))
        .mount(&meta)
        .await;
    graph(&format!("{IG}/tags"))
        .respond_with(ok(json!({ "data": [{
            "id": "17900000000000009", "caption": "Merci @verdure.fr pour ce kit, il existe en plus grand ?", "timestamp": "2026-12-01T09:00:00+0000",
            "permalink": "https://www.instagram.com/p/C0xyz/", "username": "marie.zd", "like_count": 300, "comments_count": 12
        }], "paging": { "cursors": { "before": "b", "after": "a" } } })))
        .mount(&meta)
        .await;
    assert_eq!(poll(&account).await.unwrap(), sources::PollReport { stored: 3, error: None });
    assert!(ticket_of(&app, "17950000000000001").await.is_some(), "a question on the brand's media");
    let reply_row = mention::Entity::find()
        .filter(mention::Column::ExternalId.eq("17950000000000003"))
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply_row.in_reply_to.as_deref(), Some("17950000000000001"));

    // The hashtag: its id looked up once (30 hashtags a week), then its recent media.
    Mock::given(method("GET"))
        .and(path("/v21.0/ig_hashtag_search"))
        .and(query_param("user_id", IG))
        .and(query_param("q", "zerodechet"))
        .respond_with(ok(json!({ "data": [{ "id": "17843857450040591" }] })))
        .expect(1)
        .mount(&meta)
        .await;
    graph("17843857450040591/recent_media")
        .and(query_param("user_id", IG))
        .respond_with(ok(json!({ "data": [
            { "id": "17900000000000020", "caption": "Mon bocal #zerodechet de chez Verdure", "timestamp": "2026-12-01T11:00:00+0000",
              "permalink": "https://www.instagram.com/p/C1/", "like_count": 15, "comments_count": 1 },
            { "id": "17900000000000021", "caption": "#zerodechet en vacances", "timestamp": "2026-12-01T11:05:00+0000",
              "permalink": "https://www.instagram.com/p/C2/", "like_count": 3, "comments_count": 0 }
        ], "paging": { "cursors": { "after": "QVFIU" } } })))
        .mount(&meta)
        .await;
    assert_eq!(poll(&hashtag).await.unwrap(), sources::PollReport { stored: 2, error: None });
    assert_eq!(poll(&hashtag).await.unwrap().error, None, "the hashtag's id is kept");

    // An Instagram delivery: a comment on the brand's media, stored at once.
    let api = ApiServer::start(app.services.config.clone()).await;
    let delivery = json!({ "object": "instagram", "entry": [{ "id": IG, "time": 1764930000, "changes": [
        { "field": "comments", "value": { "id": "17950000000000009", "text": "Le magasin de Nantes ouvre quand ?",
          "from": { "id": "809", "username": "nina" }, "media": { "id": "17900000000000001", "media_product_type": "FEED" } } },
        { "field": "comments", "value": { "id": "17950000000000010", "text": "Merci Nina !",
          "from": { "id": IG, "username": "verdure.fr" }, "media": { "id": "17900000000000001" }, "parent_id": "17950000000000009" } },
        { "field": "mentions", "value": { "media_id": "17900000000000030" } }
    ] }] })
    .to_string();
    let media = json!({ "id": "17900000000000001", "permalink": "https://www.instagram.com/p/C0abc/" });
    graph("")
        .and(query_param("ids", "17950000000000009,17950000000000010"))
        .respond_with(ok(json!({
            "17950000000000009": { "id": "17950000000000009", "text": "Le magasin de Nantes ouvre quand ?",
                "timestamp": "2026-12-05T10:00:00+0000", "username": "nina", "from": { "id": "809", "username": "nina" }, "media": media },
            "17950000000000010": { "id": "17950000000000010", "text": "Merci Nina !", "timestamp": "2026-12-05T10:01:00+0000",
                "username": "verdure.fr", "from": { "id": IG, "username": "verdure.fr" }, "parent_id": "17950000000000009", "media": media }
        })))
        .mount(&meta)
        .await;
    graph("")
        .and(query_param("ids", "17950000000000009"))
        .respond_with(ok(json!({ "17950000000000009": { "id": "17950000000000009", "username": "nina", "from": { "id": "809", "username": "nina" } } })))
        .mount(&meta)
        .await;
    graph(IG)
        .and(query_param(
            "fields",
            "mentioned_media.media_id(17900000000000030){id,caption,timestamp,permalink,username,like_count,comments_count}",
        ))
        .respond_with(ok(json!({ "id": IG, "mentioned_media": {
            "id": "17900000000000030", "caption": "@verdure.fr vous livrez à Lille ?", "timestamp": "2026-12-05T09:00:00+0000",
            "permalink": "https://www.instagram.com/p/C3/", "username": "paul.l", "like_count": 5, "comments_count": 0
        } })))
        .mount(&meta)
        .await;
    let answer = reqwest::Client::new()
        .post(format!("{}/webhooks/meta", api.base))
        .header("x-hub-signature-256", format!("sha256={}", hmac_hex(SECRET, delivery.as_bytes())))
        .body(delivery)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // The api's own job runtime may take the job as well: both run until it is done.
    let jobs = app.start_jobs();
    eventually("the notified items are stored", Duration::from_secs(30), async || {
        let found = mention::Entity::find()
            .filter(mention::Column::ExternalId.is_in(["17950000000000009", "17900000000000030"]))
            .all(&app.services.db)
            .await
            .unwrap();
        if found.len() == 2 { Ok(()) } else { Err(format!("{} of 2", found.len())) }
    })
    .await;
    jobs.stop().await;
    api.stop().await;
    assert!(ticket_of(&app, "17950000000000009").await.is_some());
    assert!(ticket_of(&app, "17900000000000030").await.is_some(), "a caption naming the account asks it");
    assert!(
        mention::Entity::find()
            .filter(mention::Column::ExternalId.eq("17950000000000010"))
            .one(&app.services.db)
            .await
            .unwrap()
            .is_none(),
        "the account's own comment"
    );

    // A reply to the tagged media is refused (not a comment on the account's media);
    // a reply to a reply goes under its parent, and an attempt that went through
    // before its worker died is found there, not posted twice.
    let tagged = ticket_of(&app, "17900000000000009").await.unwrap();
    let tagged_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, tagged.id).0;
    assert_error(&app.gql(Some(t), RESPOND, json!({ "id": tagged_id, "text": "Merci !" })).await, "BAD_USER_INPUT");
    let question = ticket_of(&app, "17950000000000009").await.unwrap();
    let ticket_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, question.id).0;
    let text = "Bonjour Nina, le 12 décembre !";
    app.ok(Some(t), RESPOND, json!({ "id": ticket_id, "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    let mut crashed: reply::ActiveModel = row.clone().into();
    crashed.attempts = Set(1);
    crashed.update(&app.services.db).await.unwrap();
    graph("17950000000000009")
        .and(query_param("fields", "parent_id"))
        .respond_with(ok(json!({ "id": "17950000000000009" })))
        .mount(&meta)
        .await;
    graph("17950000000000009/replies")
        .respond_with(ok(json!({ "data": [
            { "id": "17950000000000011", "text": text, "timestamp": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S+0000").to_string(),
              "from": { "id": IG, "username": "verdure.fr" } }
        ] })))
        .mount(&meta)
        .await;
    Mock::given(method("POST"))
        .and(path("/v21.0/17950000000000009/replies"))
        .respond_with(ok(json!({ "id": "1" })))
        .expect(0)
        .mount(&meta)
        .await;
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": ticket_id })).await["node"].clone();
    assert_eq!(
        (done["status"].clone(), done["replies"][0]["externalId"].clone()),
        (json!("ANSWERED"), json!("17950000000000011")),
        "{done}"
    );
    meta.verify().await;
}
on_both_databases!(instagram_comments_tags_hashtags_and_replies);

/// The webhook is closed until the operator configures Meta.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meta_webhooks_need_the_app() {
    let app = TestApp::new(Backend::Sqlite).await;
    let api = ApiServer::start(Arc::clone(&app.services.config)).await;
    let http = reqwest::Client::new();
    let get = http
        .get(format!("{}/webhooks/meta?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 403);
    let post = http.post(format!("{}/webhooks/meta", api.base)).body("{}").send().await.unwrap();
    assert_eq!(post.status(), 401);
    api.stop().await;
}
