//! X API v2 through OAuth 2.0 with PKCE, against local servers speaking X's token
//! endpoint (HTTP Basic client authentication, refresh tokens that serve once) and its
//! API (`/users/me`, recent search and mentions pages chained by `next_token`, the
//! `author_id` expansion, `x-rate-limit-*` headers, 429, RFC 7807 problems, `POST
//! /tweets`).

use base64::Engine;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::collections::HashMap;
use vigie_domain::connections::oauth::{self, Callback};
use vigie_domain::entities::{author, connection, mention, reply, source};
use vigie_domain::{System, sources};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{
    body_partial_json, body_string_contains, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const START: &str = "mutation($i: StartOAuthConnectionInput!) { startOAuthConnection(input: $i) { url } }";
const COMPLETE: &str =
    "mutation($t: String!) { completeOAuthConnection(ticket: $t) { id account accountId kind scopes } }";
const HEALTH: &str = "query($id: ID!) { node(id: $id) { ... on Connection { healthy quotaRemaining quotaResetsAt } } }";
const CREATE: &str = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
/// The brand's account on X.
const BRAND_ID: &str = "1460000000000000001";

async fn app_with_x(backend: Backend, x: &MockServer) -> TestApp {
    let base = x.uri();
    TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_PUBLIC_URL", "https://vigie.example"),
            ("VIGIE_X_CLIENT_ID", "vigie-x-client"),
            ("VIGIE_X_CLIENT_SECRET", "x-client-secret"),
            ("VIGIE_X_AUTH_URL", &format!("{base}/i/oauth2/authorize")),
            ("VIGIE_X_TOKEN_URL", &format!("{base}/2/oauth2/token")),
            ("VIGIE_X_API_URL", &format!("{base}/2")),
            ("VIGIE_X_REVOKE_URL", &format!("{base}/2/oauth2/revoke")),
        ],
    )
    .await
}

fn tokens(access: &str, refresh: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "bearer", "expires_in": 7200, "access_token": access, "refresh_token": refresh,
        "scope": "tweet.read users.read tweet.write offline.access"
    }))
}

/// A page as X sends it, with its rate-limit headers (the reset a Unix time).
fn page(posts: Vec<Value>, users: Vec<Value>, next: Option<&str>, remaining: &str) -> ResponseTemplate {
    let newest = posts.first().map(|p| p["id"].clone());
    let mut meta = json!({ "result_count": posts.len() });
    if let Some(newest) = newest {
        meta["newest_id"] = newest;
        meta["oldest_id"] = posts.last().unwrap()["id"].clone();
    }
    if let Some(next) = next {
        meta["next_token"] = json!(next);
    }
    let mut body = json!({ "meta": meta });
    if !posts.is_empty() {
        body["data"] = json!(posts);
        body["includes"] = json!({ "users": users });
    }
    let reset = (chrono::Utc::now() + chrono::Duration::minutes(15)).timestamp().to_string();
    ResponseTemplate::new(200)
        .set_body_json(body)
        .insert_header("x-rate-limit-limit", "450")
        .insert_header("x-rate-limit-remaining", remaining)
        .insert_header("x-rate-limit-reset", reset.as_str())
}

fn post(id: &str, author: &str, text: &str) -> Value {
    json!({
        "id": id, "text": text, "author_id": author, "created_at": "2026-12-01T10:00:00.000Z", "lang": "fr",
        "edit_history_tweet_ids": [id],
        "public_metrics": { "retweet_count": 3, "reply_count": 1, "like_count": 12, "quote_count": 1, "bookmark_count": 0, "impression_count": 840 }
    })
}

fn reply_post(id: &str, author: &str, text: &str, to_post: &str, to_user: &str) -> Value {
    let mut p = post(id, author, text);
    p["in_reply_to_user_id"] = json!(to_user);
    p["referenced_tweets"] = json!([{ "type": "replied_to", "id": to_post }]);
    p
}

fn user(id: &str, username: &str, followers: i64, verified: bool) -> Value {
    json!({ "id": id, "name": format!("{username} (name)"), "username": username, "verified": verified,
            "public_metrics": { "followers_count": followers, "following_count": 80, "tweet_count": 5000, "listed_count": 12 } })
}

/// Connects the brand's X account; returns the connection as GraphQL gives it.
async fn connect(app: &TestApp, x: &MockServer, token: &str, brand: &str) -> Value {
    let started = app.ok(Some(token), START, json!({ "i": { "network": "X", "brandId": brand } })).await;
    let url = url::Url::parse(started["startOAuthConnection"]["url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), "/i/oauth2/authorize");
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["scope"], "tweet.read users.read tweet.write offline.access", "a refresh token too");
    assert_eq!(params["redirect_uri"], "https://vigie.example/oauth/x/callback");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["client_id"], "vigie-x-client");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("vigie-x-client:x-client-secret"));
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(header("authorization", basic.as_str()))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code_verifier="))
        .respond_with(tokens("x-access-1", "x-refresh-1"))
        .mount(x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/me"))
        .and(header("authorization", "Bearer x-access-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "id": BRAND_ID, "name": "Verdure", "username": "Verdure_FR" } })),
        )
        .mount(x)
        .await;
    let callback = Callback { code: Some("x-code".into()), state: Some(params["state"].clone()), error: None };
    let consented = oauth::callback(&app.services, "x", callback).await.unwrap();
    app.ok(Some(token), COMPLETE, json!({ "t": consented.ticket })).await["completeOAuthConnection"].clone()
}

async fn poll(app: &TestApp, source: &str) -> sources::PollReport {
    sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(source)).await.unwrap()
}

async fn create_source(app: &TestApp, t: &str, brand: &str, kind: &str, target: &str, connection: &str) -> String {
    let input = json!({ "i": { "brandId": brand, "network": "X", "kind": kind, "target": target, "connectionId": connection } });
    app.ok(Some(t), CREATE, input).await["createSource"]["id"].as_str().unwrap().to_owned()
}

async fn x_searches_and_mentions_arrive_through_a_connection(backend: Backend) {
    let x = MockServer::start().await;
    let app = app_with_x(backend, &x).await;
    let (log, guard) = vigie_tests::logs::capture(tracing::Level::TRACE);
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app
        .ok(
            Some(t),
            "mutation($i: CreateBrandInput!) { createBrand(input: $i) { id } }",
            json!({ "i": { "name": "Verdure", "timeZone": "Europe/Paris", "trackedKeywords": ["verdure"],
                           "handles": [{ "network": "X", "handle": "@Verdure_FR" }] } }),
        )
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unwatched = async || {
        let query = "query($id: ID!) { node(id: $id) { ... on Brand { unwatchedHandles { network handle } } } }";
        app.ok(Some(t), query, json!({ "id": brand })).await["node"]["unwatchedHandles"].as_array().unwrap().len()
    };
    assert_eq!(unwatched().await, 1);
    let connection = connect(&app, &x, t, &brand).await;
    assert_eq!(
        (connection["account"].clone(), connection["accountId"].clone(), connection["kind"].clone()),
        (json!("Verdure_FR"), json!(BRAND_ID), json!("oauth2"))
    );
    let id = connection["id"].as_str().unwrap().to_owned();
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    for secret in ["x-access-1", "x-refresh-1", "x-client-secret"] {
        assert!(!row.secret.contains(secret), "a secret is readable in the database");
    }
    // X answers signed-in callers only.
    let anonymous = json!({ "i": { "brandId": brand, "network": "X", "kind": "SEARCH", "target": "verdure" } });
    assert_error(&app.gql(Some(t), CREATE, anonymous).await, "BAD_USER_INPUT");
    let search = create_source(&app, t, &brand, "SEARCH", "verdure OR #verdure", &id).await;

    // First poll: one page from now, retweets left out; authors come through the
    // expansion with their reach; the rate limit's headers become the quota.
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param("query", "(verdure OR #verdure) -is:retweet"))
        .and(query_param("expansions", "author_id,in_reply_to_user_id"))
        .and(query_param("max_results", "100"))
        .and(query_param_is_missing("since_id"))
        .and(header("authorization", "Bearer x-access-1"))
        .respond_with(page(
            vec![
                post("1500000000000000020", "42", "Verdure &amp; ses recharges : enfin en vrac &gt; le reste"),
                post("1500000000000000010", "43", "J'adore Verdure"),
            ],
            vec![user("42", "LeafyFan", 48_200, true), user("43", "Other_Fan", 120, false)],
            Some("b26v89c19zqg8o3fpzbkk7c"),
            "449",
        ))
        .up_to_n_times(1)
        .mount(&x)
        .await;
    assert_eq!(poll(&app, &search).await, sources::PollReport { stored: 2, error: None });
    let stored = mention::Entity::find().all(&app.services.db).await.unwrap();
    let first = stored.iter().find(|m| m.external_id == "1500000000000000020").unwrap();
    assert_eq!(first.text, "Verdure & ses recharges : enfin en vrac > le reste");
    assert_eq!(first.url.as_deref(), Some("https://x.com/LeafyFan/status/1500000000000000020"));
    assert_eq!((first.likes, first.shares, first.replies, first.views), (12, 4, 1, 840));
    let fan = author::Entity::find_by_id(first.author_id.unwrap()).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!((fan.handle.as_str(), fan.followers, fan.verified), ("leafyfan", 48_200, true));
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["quotaRemaining"], 449, "{health}");

    // Second poll: the access token expired (401); it is refreshed, X rotating the
    // refresh token, and two pages are read down to the newest post seen.
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(header("authorization", "Bearer x-access-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({ "title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized" }),
        ))
        .mount(&x)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=x-refresh-1"))
        .respond_with(tokens("x-access-2", "x-refresh-2"))
        .expect(1)
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param("since_id", "1500000000000000020"))
        .and(query_param_is_missing("next_token"))
        .and(header("authorization", "Bearer x-access-2"))
        .respond_with(page(
            vec![post("1500000000000000040", "42", "Verdure, livraison en retard encore")],
            vec![user("42", "LeafyFan", 48_300, true)],
            Some("token-page-2"),
            "447",
        ))
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param("since_id", "1500000000000000020"))
        .and(query_param("next_token", "token-page-2"))
        .respond_with(page(
            vec![reply_post("1500000000000000030", "43", "@Verdure_FR et la boutique de Lyon ?", "1499", BRAND_ID)],
            vec![user("43", "Other_Fan", 120, false), user(BRAND_ID, "Verdure_FR", 9_000, true)],
            None,
            "446",
        ))
        .mount(&x)
        .await;
    assert_eq!(poll(&app, &search).await, sources::PollReport { stored: 2, error: None });
    let answer = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.external_id == "1500000000000000030")
        .unwrap();
    assert_eq!(answer.in_reply_to.as_deref(), Some("1499"));
    let cursor = source::Entity::find_by_id(vigie_tests::db_id(&search)).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(cursor.cursor.unwrap()["since_id"], "1500000000000000040");

    // The rotated refresh token is the one kept: the next renewal presents it.
    x.reset().await;
    let mut expired: connection::ActiveModel =
        connection::Entity::find().one(&app.services.db).await.unwrap().unwrap().into();
    expired.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1)));
    expired.update(&app.services.db).await.unwrap();
    Mock::given(method("POST"))
        .and(path("/2/oauth2/token"))
        .and(body_string_contains("refresh_token=x-refresh-2"))
        .respond_with(tokens("x-access-3", "x-refresh-3"))
        .expect(1)
        .mount(&x)
        .await;
    // A source paused past recent search's seven days: X refuses its `since_id`, and the
    // reading starts again from now.
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param("since_id", "1500000000000000040"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{ "parameters": { "since_id": ["1500000000000000040"] }, "message": "Invalid 'since_id'" }],
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"
        })))
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param_is_missing("since_id"))
        .and(header("authorization", "Bearer x-access-3"))
        .respond_with(page(
            vec![post("1600000000000000001", "43", "Verdure, de retour ?")],
            vec![user("43", "Other_Fan", 125, false)],
            None,
            "440",
        ))
        .mount(&x)
        .await;
    let restarted = poll(&app, &search).await;
    assert_eq!(restarted.stored, 1);
    assert!(restarted.error.as_deref().is_some_and(|e| e.contains("missed")), "{restarted:?}");
    x.verify().await;

    // A page token X no longer takes: dropped, and the reading goes on from the newest
    // post stored (recent enough for search to reach), nothing reported missed.
    let recent = (((chrono::Utc::now().timestamp_millis() - 3_600_000 - 1_288_834_974_657) as u64) << 22).to_string();
    let mut stale: source::ActiveModel =
        source::Entity::find_by_id(vigie_tests::db_id(&search)).one(&app.services.db).await.unwrap().unwrap().into();
    stale.cursor = Set(Some(json!({ "since_id": recent, "resume": "expired-token" })));
    stale.update(&app.services.db).await.unwrap();
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param("next_token", "expired-token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "errors": [{ "parameters": { "next_token": ["expired-token"] }, "message": "Invalid 'next_token'" }],
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"
        })))
        .expect(1)
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/tweets/search/recent"))
        .and(query_param("since_id", recent.as_str()))
        .and(query_param_is_missing("next_token"))
        .respond_with(page(
            vec![post("1600000000000000002", "43", "Verdure encore")],
            vec![user("43", "Other_Fan", 125, false)],
            None,
            "439",
        ))
        .expect(1)
        .mount(&x)
        .await;
    assert_eq!(poll(&app, &search).await, sources::PollReport { stored: 1, error: None });
    x.verify().await;

    // Mentions of the brand's own account: no lookup, its id is the connection's. A
    // reply to the brand names it as the author answered.
    let mentions = create_source(&app, t, &brand, "ACCOUNT", "@Verdure_FR", &id).await;
    Mock::given(method("GET"))
        .and(path(format!("/2/users/{BRAND_ID}/mentions")))
        .and(query_param_is_missing("pagination_token"))
        .respond_with(page(
            vec![reply_post("1600000000000000005", "43", "@Verdure_FR ma commande ?", "1599", BRAND_ID)],
            vec![user("43", "Other_Fan", 125, false), user(BRAND_ID, "Verdure_FR", 9_000, true)],
            None,
            "170",
        ))
        .mount(&x)
        .await;
    assert_eq!(poll(&app, &mentions).await, sources::PollReport { stored: 1, error: None });
    let asked = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.external_id == "1600000000000000005")
        .unwrap();
    assert_eq!(asked.in_reply_to_author.as_deref(), Some("verdure_fr"));
    assert_eq!(unwatched().await, 0, "the account source hears the brand's handle");

    // Another account's mentions: its id is looked up once, then kept. A 429 waits for
    // the window's reset.
    let rival = create_source(&app, t, &brand, "ACCOUNT", "https://x.com/RivalCo", &id).await;
    Mock::given(method("GET"))
        .and(path("/2/users/by/username/rivalco"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "data": { "id": "77", "name": "Rival", "username": "RivalCo" } })),
        )
        .expect(1)
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path("/2/users/77/mentions"))
        .respond_with(page(vec![], vec![], None, "169"))
        .up_to_n_times(1)
        .mount(&x)
        .await;
    assert_eq!(poll(&app, &rival).await, sources::PollReport { stored: 0, error: None });
    let reset = chrono::Utc::now() + chrono::Duration::seconds(600);
    Mock::given(method("GET"))
        .and(path("/2/users/77/mentions"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({ "title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429 }))
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.timestamp().to_string().as_str()),
        )
        .mount(&x)
        .await;
    let limited = poll(&app, &rival).await;
    assert!(limited.error.as_deref().is_some_and(|e| e.contains("429")), "{limited:?}");
    let waiting = source::Entity::find_by_id(vigie_tests::db_id(&rival)).one(&app.services.db).await.unwrap().unwrap();
    assert!(
        waiting.next_poll_at.is_some_and(|at| at > chrono::Utc::now() + chrono::Duration::seconds(500)),
        "{waiting:?}"
    );
    x.verify().await;

    // Deleting the connection revokes its refresh token at X.
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("vigie-x-client:x-client-secret"));
    Mock::given(method("POST"))
        .and(path("/2/oauth2/revoke"))
        .and(header("authorization", basic.as_str()))
        .and(body_string_contains("token=x-refresh-3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "revoked": true })))
        .expect(1)
        .mount(&x)
        .await;
    app.ok(Some(t), "mutation($id: ID!) { deleteConnection(id: $id) { deletedId } }", json!({ "id": id })).await;
    x.verify().await;

    drop(guard);
    let logged = log.text();
    for secret in ["x-access-1", "x-access-2", "x-refresh-1", "x-refresh-2", "x-refresh-3", "x-client-secret"] {
        assert!(!logged.contains(secret), "a secret reached the logs");
    }
}
on_both_databases!(x_searches_and_mentions_arrive_through_a_connection);

const RESPOND: &str =
    "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status } }";
const TICKET: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status responseChannel replies { status url externalId lastError } } } }";

async fn replies_to_x_posts_are_published_once(backend: Backend) {
    let x = MockServer::start().await;
    let app = app_with_x(backend, &x).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    connect(&app, &x, t, &brand).await;
    let source = app.create_source(Some(t), &brand).await;
    let item = |id: &str, text: &str| {
        let mut m = vigie_tests::new_mention(id, "leafyfan", text, 500);
        m.network = "x".into();
        m.url = Some(format!("https://x.com/LeafyFan/status/{id}"));
        m.direct = true;
        m
    };
    app.collect(
        &source,
        vec![
            item("1700000000000000001", "Verdure, où trouver les recharges ?"),
            item("1700000000000000002", "Verdure, mon colis n'est jamais arrivé, vous pouvez m'aider ?"),
            item("1700000000000000003", "Verdure, pourquoi ce silence ?"),
            item("1700000000000000004", "Verdure, c'est bon pour moi ?"),
        ],
    )
    .await;
    let tickets = app
        .ok(
            Some(t),
            "query($b: ID!) { tickets(brandId: $b) { edges { node { id mention { externalId } } } } }",
            json!({ "b": brand }),
        )
        .await;
    let tickets: HashMap<String, String> = tickets["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["mention"]["externalId"].as_str().unwrap().to_owned(),
                e["node"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();

    // Longer than X takes: links weigh 23, so this one is refused before anything is sent.
    let long = format!("{} https://verdure.example/shops", "é".repeat(257));
    assert_error(
        &app.gql(Some(t), RESPOND, json!({ "id": tickets["1700000000000000001"], "text": long })).await,
        "BAD_USER_INPUT",
    );

    // X rate-limits the account: a passing failure, retried after the window's reset.
    // The next attempt first looks among the account's posts, then posts the reply.
    let text = "Bonjour ! Toutes nos boutiques : https://verdure.example/boutiques & bientôt plus.";
    let reset = chrono::Utc::now() + chrono::Duration::seconds(900);
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(
            ResponseTemplate::new(429)
                .set_body_json(json!({ "title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429 }))
                .insert_header("x-rate-limit-remaining", "0")
                .insert_header("x-rate-limit-reset", reset.timestamp().to_string().as_str()),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2/users/{BRAND_ID}/tweets")))
        .respond_with(page(vec![], vec![], None, "900"))
        .mount(&x)
        .await;
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({ "text": text, "reply": { "in_reply_to_tweet_id": "1700000000000000001" } })))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "data": { "id": "1700000000000000101", "edit_history_tweet_ids": ["1700000000000000101"], "text": text } })),
        )
        .expect(1)
        .mount(&x)
        .await;
    app.ok(Some(t), RESPOND, json!({ "id": tickets["1700000000000000001"], "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let waiting = app.ok(Some(t), TICKET, json!({ "id": tickets["1700000000000000001"] })).await["node"].clone();
    assert!(waiting["replies"][0]["lastError"].as_str().unwrap().contains("rate-limited"), "{waiting}");
    let later = reply::Entity::find_by_id(row.id).one(&app.services.db).await.unwrap().unwrap();
    assert!(later.next_attempt_at.unwrap() > chrono::Utc::now() + chrono::Duration::minutes(10));
    let mut due: reply::ActiveModel = later.into();
    due.next_attempt_at = Set(Some(chrono::Utc::now()));
    due.update(&app.services.db).await.unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": tickets["1700000000000000001"] })).await["node"].clone();
    assert_eq!((done["status"].clone(), done["responseChannel"].clone()), (json!("ANSWERED"), json!("x")), "{done}");
    assert_eq!(done["replies"][0]["externalId"], "1700000000000000101");
    assert_eq!(done["replies"][0]["url"], "https://x.com/Verdure_FR/status/1700000000000000101");

    // An attempt whose worker died after X took the post: found among the account's
    // posts as X gives them back (the mention it puts first, `&amp;`, the link
    // shortened), not posted again.
    let text = "Désolés : un nouveau colis part aujourd'hui & le suivi sur https://verdure.example/suivi";
    app.ok(Some(t), RESPOND, json!({ "id": tickets["1700000000000000002"], "text": text })).await;
    let row = reply::Entity::find().all(&app.services.db).await.unwrap().into_iter().find(|r| r.text == text).unwrap();
    let mut crashed: reply::ActiveModel = row.clone().into();
    crashed.attempts = Set(1);
    crashed.next_attempt_at = Set(Some(chrono::Utc::now()));
    crashed.update(&app.services.db).await.unwrap();
    x.reset().await;
    let as_returned = "@LeafyFan Désolés : un nouveau colis part aujourd'hui &amp; le suivi sur https://t.co/Ab12Cd34";
    Mock::given(method("GET"))
        .and(path(format!("/2/users/{BRAND_ID}/tweets")))
        .and(query_param("exclude", "retweets"))
        .respond_with(page(
            vec![
                // The same text under another post is not this reply.
                reply_post("1700000000000000150", BRAND_ID, as_returned, "1700000000000000009", "42"),
                reply_post("1700000000000000102", BRAND_ID, as_returned, "1700000000000000002", "42"),
            ],
            vec![user(BRAND_ID, "Verdure_FR", 9_000, true)],
            None,
            "899",
        ))
        .mount(&x)
        .await;
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": tickets["1700000000000000002"] })).await["node"].clone();
    assert_eq!(done["replies"][0]["externalId"], "1700000000000000102", "{done}");
    assert!(x.received_requests().await.unwrap().iter().all(|r| r.url.path() != "/2/tweets"));

    // X refuses a duplicate or a reply the author's settings forbid: said on the
    // ticket, which stays open.
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403
        })))
        .mount(&x)
        .await;
    app.ok(Some(t), RESPOND, json!({ "id": tickets["1700000000000000003"], "text": "Nous revenons vers vous." })).await;
    let row = reply::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.text == "Nous revenons vers vous.")
        .unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let refused = app.ok(Some(t), TICKET, json!({ "id": tickets["1700000000000000003"] })).await["node"].clone();
    assert_eq!((refused["status"].clone(), refused["replies"][0]["status"].clone()), (json!("OPEN"), json!("FAILED")));
    assert!(refused["replies"][0]["lastError"].as_str().unwrap().contains("duplicate content"), "{refused}");

    // A duplicate refusal for a reply an earlier attempt made (past what the first look
    // saw): the look after the refusal finds it, on the timeline's second page.
    x.reset().await;
    let text = "Oui, c'est bon pour vous.";
    Mock::given(method("POST"))
        .and(path("/2/tweets"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "detail": "You are not allowed to create a Tweet with duplicate content.", "type": "about:blank", "title": "Forbidden", "status": 403
        })))
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2/users/{BRAND_ID}/tweets")))
        .and(query_param_is_missing("pagination_token"))
        .respond_with(page(vec![], vec![], Some("older"), "898"))
        .up_to_n_times(1)
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2/users/{BRAND_ID}/tweets")))
        .and(query_param_is_missing("pagination_token"))
        .respond_with(page(vec![], vec![], Some("older"), "897"))
        .mount(&x)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/2/users/{BRAND_ID}/tweets")))
        .and(query_param("pagination_token", "older"))
        .respond_with(page(
            vec![reply_post(
                "1700000000000000104",
                BRAND_ID,
                &format!("@LeafyFan {text}"),
                "1700000000000000004",
                "42",
            )],
            vec![],
            None,
            "896",
        ))
        .mount(&x)
        .await;
    app.ok(Some(t), RESPOND, json!({ "id": tickets["1700000000000000004"], "text": text })).await;
    let row = reply::Entity::find().all(&app.services.db).await.unwrap().into_iter().find(|r| r.text == text).unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let found = app.ok(Some(t), TICKET, json!({ "id": tickets["1700000000000000004"] })).await["node"].clone();
    assert_eq!(
        (found["status"].clone(), found["replies"][0]["externalId"].clone()),
        (json!("ANSWERED"), json!("1700000000000000104")),
        "{found}"
    );
}
on_both_databases!(replies_to_x_posts_are_published_once);
