//! Connections: a Bluesky account signed in with an app password, against a local PDS
//! speaking `com.atproto.server.createSession` / `refreshSession` and proxying
//! `app.bsky.feed.searchPosts`. The password is checked at once; sources search with
//! the account's token, renewed before it expires and when Bluesky answers
//! `ExpiredToken`; a revoked password makes the connection unhealthy, once, and is not
//! tried again until reconnected. Secrets are sealed in the database, never returned,
//! never logged, and survive a key rotation.

use base64::Engine;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use vigie_domain::entities::{connection, event};
use vigie_domain::{System, connections, sources};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREATE: &str = "/xrpc/com.atproto.server.createSession";
const REFRESH: &str = "/xrpc/com.atproto.server.refreshSession";
const SEARCH: &str = "/xrpc/app.bsky.feed.searchPosts";
const CONNECT: &str = "mutation($i: ConnectBlueskyInput!) { connectBluesky(input: $i) { id network kind account accountId endpoint healthy expiresAt brand { name } } }";
const HEALTH: &str = "query($id: ID!) { node(id: $id) { ... on Connection { healthy lastError lastSuccessAt quotaRemaining quotaResetsAt expiresAt } } }";

/// A JWT as Bluesky issues them (only its `exp` is read), expiring in `secs`.
fn jwt(label: &str, secs: i64) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = chrono::Utc::now().timestamp() + secs;
    format!(
        "{}.{}.{}",
        b64(json!({ "typ": "at+jwt", "alg": "ES256K" })),
        b64(json!({ "scope": "com.atproto.appPass", "sub": "did:plc:verdure", "exp": exp, "jti": label })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("signature-{label}"))
    )
}

fn session(access: &str, refresh: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "accessJwt": access, "refreshJwt": refresh, "handle": "verdure.bsky.social", "did": "did:plc:verdure",
        "didDoc": { "id": "did:plc:verdure" }, "email": "social@verdure.example", "emailConfirmed": true, "active": true
    }))
}

fn xrpc_error(status: u16, name: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({ "error": name, "message": message }))
}

fn posts(from: usize, n: usize) -> ResponseTemplate {
    let posts: Vec<Value> = (from..from + n)
        .map(|i| json!({
            "uri": format!("at://did:plc:fan{i}/app.bsky.feed.post/3l{i}"), "cid": format!("bafy{i}"),
            "author": { "did": format!("did:plc:fan{i}"), "handle": format!("fan{i}.bsky.social"), "displayName": format!("Fan {i}") },
            "record": { "$type": "app.bsky.feed.post", "text": format!("Verdure, mon shampoing solide préféré {i}"), "createdAt": "2026-11-20T10:00:00.000Z", "langs": ["fr"] },
            "replyCount": 0, "repostCount": 1, "likeCount": 4, "quoteCount": 0, "indexedAt": format!("2026-11-20T10:{:02}:00.000Z", i % 60)
        }))
        .collect();
    ResponseTemplate::new(200)
        .set_body_json(json!({ "posts": posts }))
        .insert_header("ratelimit-limit", "3000")
        .insert_header("ratelimit-remaining", "2999")
        .insert_header("ratelimit-reset", "1798761600")
        .insert_header("ratelimit-policy", "3000;w=300")
}

async fn poll(app: &TestApp, source: &str) -> sources::PollReport {
    sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(source)).await.unwrap()
}

async fn unhealthy_events(app: &TestApp) -> usize {
    event::Entity::find()
        .filter(event::Column::Kind.eq("connection.unhealthy"))
        .all(&app.services.db)
        .await
        .unwrap()
        .len()
}

async fn a_bluesky_connection_signs_in_renews_and_is_revoked(backend: Backend) {
    let (log, guard) = vigie_tests::logs::capture(tracing::Level::TRACE);
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let pds = MockServer::start().await;
    let (a1, r1, a2, r2, a3, r3, a4, r4) = (
        jwt("a1", 30),
        jwt("r1", 86_400),
        jwt("a2", 7_200),
        jwt("r2", 86_400),
        jwt("a3", 7_200),
        jwt("r3", 86_400),
        jwt("a4", 7_200),
        jwt("r4", 86_400),
    );
    let secrets = ["app-pass-right", "app-pass-wrong", "app-pass-new", &a1, &r1, &a2, &r2, &a3, &r3, &a4, &r4];

    // A refused password is an input error, and nothing is kept.
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(body_json(json!({ "identifier": "verdure.bsky.social", "password": "app-pass-wrong" })))
        .respond_with(xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password"))
        .mount(&pds)
        .await;
    let input = |password: &str| json!({ "i": { "brandId": brand, "identifier": "@verdure.bsky.social", "appPassword": password, "endpoint": pds.uri() } });
    let refused = app.gql(Some(t), CONNECT, input("app-pass-wrong")).await;
    assert_error(&refused, "BAD_USER_INPUT");
    assert!(refused.to_string().contains("appPassword"), "{refused}");
    assert!(connection::Entity::find().all(&app.services.db).await.unwrap().is_empty());

    // The right one signs in; the first access token expires in 30 s.
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(body_json(json!({ "identifier": "verdure.bsky.social", "password": "app-pass-right" })))
        .respond_with(session(&a1, &r1))
        .expect(1)
        .mount(&pds)
        .await;
    let created = app.ok(Some(t), CONNECT, input("app-pass-right")).await["connectBluesky"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        json!({ "network": created["network"], "kind": created["kind"], "account": created["account"], "accountId": created["accountId"], "endpoint": created["endpoint"], "healthy": created["healthy"], "brand": created["brand"] }),
        json!({ "network": "bluesky", "kind": "app_password", "account": "verdure.bsky.social", "accountId": "did:plc:verdure", "endpoint": pds.uri(), "healthy": true, "brand": { "name": "Verdure" } })
    );
    assert!(created["expiresAt"].is_string());
    // Sealed in the database: neither the password nor a token is readable there.
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    for secret in &secrets {
        assert!(!row.secret.contains(secret), "a secret is readable in the database");
    }
    assert_eq!(Some(row.key_id.as_str()), app.services.config.vault.current_key_id());
    // And the API has no field that returns it.
    let asked = app.gql(Some(t), "query { connections { edges { node { secret } } } }", json!({})).await;
    assert!(asked["errors"][0]["message"].as_str().unwrap().contains("Unknown field"), "{asked}");

    let source = app
        .ok(
            Some(t),
            "mutation($i: CreateSourceInput!) { createSource(input: $i) { id connectionId } }",
            json!({ "i": { "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "connectionId": id } }),
        )
        .await["createSource"]
        .clone();
    assert_eq!(source["connectionId"], json!(id));
    let source = source["id"].as_str().unwrap().to_owned();

    // First poll: the token is about to expire, so it is renewed before the search,
    // which goes to the account's PDS with the new one.
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header("authorization", format!("Bearer {r1}").as_str()))
        .respond_with(session(&a2, &r2))
        .expect(1)
        .mount(&pds)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {a2}").as_str()))
        .respond_with(posts(1, 2))
        .up_to_n_times(1)
        .mount(&pds)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 2, error: None });
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["healthy"], true);
    assert_eq!(health["quotaRemaining"], 2999);
    assert_eq!(health["quotaResetsAt"], "2027-01-01T00:00:00+00:00");
    assert!(health["lastSuccessAt"].is_string());

    // Second poll: Bluesky says the (unexpired) token has expired; it is refreshed and
    // the search tried once more.
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {a2}").as_str()))
        .respond_with(xrpc_error(400, "ExpiredToken", "Token has expired"))
        .mount(&pds)
        .await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header("authorization", format!("Bearer {r2}").as_str()))
        .respond_with(session(&a3, &r3))
        .expect(1)
        .mount(&pds)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {a3}").as_str()))
        .respond_with(posts(3, 1))
        .up_to_n_times(1)
        .mount(&pds)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 1, error: None });

    // The app password is revoked: the token and the refresh token are refused, and
    // so is the password. The connection turns unhealthy with one event, and later
    // polls do not present the password again.
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {a3}").as_str()))
        .respond_with(xrpc_error(401, "InvalidToken", "Token could not be verified"))
        .mount(&pds)
        .await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header("authorization", format!("Bearer {r3}").as_str()))
        .respond_with(xrpc_error(400, "ExpiredToken", "Token has been revoked"))
        .expect(1)
        .mount(&pds)
        .await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(body_json(json!({ "identifier": "verdure.bsky.social", "password": "app-pass-right" })))
        .respond_with(xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password"))
        .with_priority(1)
        .expect(1)
        .mount(&pds)
        .await;
    let report = poll(&app, &source).await;
    assert!(report.error.as_deref().is_some_and(|e| e.contains("reconnect")), "{report:?}");
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["healthy"], false);
    assert!(health["lastError"].as_str().unwrap().contains("AuthenticationRequired"), "{health}");
    assert_eq!(unhealthy_events(&app).await, 1);
    let again = poll(&app, &source).await;
    assert!(again.error.as_deref().is_some_and(|e| e.contains("reconnect")), "{again:?}");
    assert_eq!(unhealthy_events(&app).await, 1, "one event until it is reconnected");
    // The connection's refusal is not counted against its sources, which would
    // otherwise raise events of their own and back off for hours.
    let source_health = app
        .ok(
            Some(t),
            "query($id: ID!) { node(id: $id) { ... on Source { healthy consecutiveFailures lastError } } }",
            json!({ "id": source }),
        )
        .await["node"]
        .clone();
    assert_eq!(
        (source_health["healthy"].clone(), source_health["consecutiveFailures"].clone()),
        (json!(true), json!(0))
    );
    assert!(source_health["lastError"].as_str().unwrap().contains("reconnect"), "{source_health}");

    // A new app password, checked by signing in with the account's DID, heals it.
    Mock::given(method("POST"))
        .and(path(CREATE))
        .and(body_json(json!({ "identifier": "did:plc:verdure", "password": "app-pass-new" })))
        .respond_with(session(&a4, &r4))
        .with_priority(1)
        .expect(1)
        .mount(&pds)
        .await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {a4}").as_str()))
        .respond_with(posts(4, 1))
        .mount(&pds)
        .await;
    let healed = app
        .ok(
            Some(t),
            "mutation($id: ID!) { reconnectBluesky(id: $id, appPassword: \"app-pass-new\") { healthy lastError } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(healed["reconnectBluesky"], json!({ "healthy": true, "lastError": null }));
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 1, error: None });
    pds.verify().await;

    // Deleted, the source polls anonymously again.
    app.ok(Some(t), "mutation($id: ID!) { deleteConnection(id: $id) { deletedId } }", json!({ "id": id })).await;
    let source_row = app
        .ok(Some(t), "query($id: ID!) { node(id: $id) { ... on Source { connectionId } } }", json!({ "id": source }))
        .await;
    assert_eq!(source_row["node"]["connectionId"], Value::Null);

    drop(guard);
    let logged = log.text();
    assert!(logged.contains("connection tokens renewed"), "the capture saw the work");
    for secret in &secrets {
        assert!(!logged.contains(secret), "a secret reached the log: {secret}");
    }
}
on_both_databases!(a_bluesky_connection_signs_in_renews_and_is_revoked);

/// Who may hold and lend connections: managers; a source takes only a connection of its
/// agency, on its network, for its brand or agency-wide.
async fn connections_are_for_managers_and_their_brands(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let (one, two) = (app.create_brand(t, "One").await, app.create_brand(t, "Two").await);
    let pds = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(session(&jwt("a", 7_200), &jwt("r", 86_400)))
        .mount(&pds)
        .await;
    let connect = |brand: &str| json!({ "i": { "brandId": brand, "identifier": "verdure.bsky.social", "appPassword": "pw", "endpoint": pds.uri() } });
    let of_one = app.ok(Some(t), CONNECT, connect(&one)).await["connectBluesky"]["id"].as_str().unwrap().to_owned();
    let create_source = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }";
    let source = |brand: &str, network: &str, kind: &str, target: &str| json!({ "i": { "brandId": brand, "network": network, "kind": kind, "target": target, "connectionId": of_one } });
    let wrong_brand = app.gql(Some(t), create_source, source(&two, "BLUESKY", "SEARCH", "verdure")).await;
    assert_error(&wrong_brand, "BAD_USER_INPUT");
    let wrong_network = app.gql(Some(t), create_source, source(&one, "MASTODON", "SEARCH", "verdure")).await;
    assert_error(&wrong_network, "BAD_USER_INPUT");

    // A member of the agency sees no connection and cannot lend one.
    let member = app.invite_and_accept(t, "member@example.com", "MEMBER", &[&one]).await.access_token;
    assert_error(
        &app.gql(Some(&member), "query { connections { edges { node { id } } } }", json!({})).await,
        "FORBIDDEN",
    );
    assert_error(&app.gql(Some(&member), CONNECT, connect(&one)).await, "FORBIDDEN");
    assert_error(
        &app.gql(Some(&member), create_source, source(&one, "BLUESKY", "SEARCH", "verdure")).await,
        "FORBIDDEN",
    );

    // A member may not turn a connected source into a search of their own, as the
    // agency's account.
    let connected = app.ok(Some(t), create_source, source(&one, "BLUESKY", "SEARCH", "verdure")).await["createSource"]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let retarget = "mutation($id: ID!) { updateSource(input: { id: $id, target: \"anything else\" }) { id } }";
    assert_error(&app.gql(Some(&member), retarget, json!({ "id": connected })).await, "FORBIDDEN");
    app.ok(Some(t), retarget, json!({ "id": connected })).await;

    // Another agency cannot name it.
    let other = app.sign_up("Other", "other@example.com").await;
    let theirs = app.create_brand(&other.access_token, "Theirs").await;
    assert_error(
        &app.gql(Some(&other.access_token), create_source, source(&theirs, "BLUESKY", "SEARCH", "verdure")).await,
        "NOT_FOUND",
    );
    let their_source = app
        .ok(
            Some(&other.access_token),
            create_source,
            json!({ "i": { "brandId": theirs, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure" } }),
        )
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        &app.gql(
            Some(&other.access_token),
            "mutation($id: ID!, $c: ID!) { updateSource(input: { id: $id, connectionId: $c }) { id } }",
            json!({ "id": their_source, "c": of_one }),
        )
        .await,
        "NOT_FOUND",
    );
    let listed = app.ok(Some(&other.access_token), "query { connections { edges { node { id } } } }", json!({})).await;
    assert_eq!(listed["connections"]["edges"], json!([]));
    let by_brand = app
        .ok(Some(t), "query($b: ID!) { connections(brandId: $b) { edges { node { id } } } }", json!({ "b": two }))
        .await;
    assert_eq!(by_brand["connections"]["edges"], json!([]), "a brand sees its own and agency-wide connections");
}
on_both_databases!(connections_are_for_managers_and_their_brands);

/// Rotation: with the new key current and the old one previous, sealed secrets still
/// open, and the re-sealing job moves them all under the new key; after that the old
/// key can go. A secret under a key no longer configured is reported, not used.
async fn secrets_survive_a_key_rotation(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let pds = MockServer::start().await;
    let access = jwt("a", 7_200);
    Mock::given(method("POST")).and(path(CREATE)).respond_with(session(&access, &jwt("r", 86_400))).mount(&pds).await;
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(posts(1, 1))
        .mount(&pds)
        .await;
    let input = json!({ "i": { "identifier": "verdure.bsky.social", "appPassword": "pw", "endpoint": pds.uri() } });
    let id = app.ok(Some(t), CONNECT, input).await["connectBluesky"]["id"].as_str().unwrap().to_owned();
    let source = app
        .ok(
            Some(t),
            "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }",
            json!({ "i": { "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "connectionId": id } }),
        )
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let new_key = vigie_domain::platform::vault::generate_key();
    let with_keys = async |keys: &[(&str, &str)]| {
        let mut extra = vec![("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")];
        extra.extend_from_slice(keys);
        let config = Arc::new(vigie_tests::test_config(&app.db, &extra));
        vigie_domain::Services::connect(config, app.services.db.clone()).await.unwrap()
    };
    let during =
        with_keys(&[("VIGIE_SECRETS_KEY", &new_key), ("VIGIE_SECRETS_KEY_PREVIOUS", vigie_tests::TEST_SECRETS_KEY)])
            .await;
    let polled = sources::poll(System::for_tests(), &during, vigie_tests::db_id(&source)).await.unwrap();
    assert_eq!(polled.error, None, "the previous key still opens");
    assert_eq!(connections::reseal(&during).await.unwrap(), connections::Resealed { resealed: 1, unreadable: 0 });
    assert_eq!(connections::reseal(&during).await.unwrap(), connections::Resealed::default(), "done once");
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(Some(row.key_id.as_str()), during.config.vault.current_key_id());

    let after = with_keys(&[("VIGIE_SECRETS_KEY", &new_key)]).await;
    let polled = sources::poll(System::for_tests(), &after, vigie_tests::db_id(&source)).await.unwrap();
    assert_eq!(polled.error, None, "the new key alone opens it");
    // The old key alone cannot: the poll fails and says why, the secret is untouched.
    let polled = sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(&source)).await.unwrap();
    assert!(polled.error.as_deref().is_some_and(|e| e.contains("cannot be opened")), "{polled:?}");
    assert_eq!(connections::reseal(&app.services).await.unwrap(), connections::Resealed { resealed: 0, unreadable: 1 });
}
on_both_databases!(secrets_survive_a_key_rotation);

/// Passing failures never lock a connection: a sign-in answered by a proxy's 403 page
/// or a 503 leaves it healthy, and the next sign-in waits (a doubling back-off) instead
/// of being tried by every poll, which could lock the account at Bluesky.
async fn passing_sign_in_failures_back_off_and_keep_the_connection(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let pds = MockServer::start().await;
    // Signed in with a token that has already expired: the first poll renews it.
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(session(&jwt("a1", -60), &jwt("r1", 86_400)))
        .up_to_n_times(1)
        .mount(&pds)
        .await;
    let input = json!({ "i": { "identifier": "verdure.bsky.social", "appPassword": "pw", "endpoint": pds.uri() } });
    let id = app.ok(Some(t), CONNECT, input).await["connectBluesky"]["id"].as_str().unwrap().to_owned();
    let source = app
        .ok(
            Some(t),
            "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }",
            json!({ "i": { "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "connectionId": id } }),
        )
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(xrpc_error(400, "ExpiredToken", "Token has been revoked"))
        .mount(&pds)
        .await;
    Mock::given(method("POST"))
        .and(path(CREATE))
        .respond_with(
            ResponseTemplate::new(403).set_body_string("<html><body>Access denied by the proxy</body></html>"),
        )
        .expect(1)
        .mount(&pds)
        .await;
    let report = poll(&app, &source).await;
    assert!(report.error.as_deref().is_some_and(|e| e.contains("HTTP 403")), "{report:?}");
    // A second poll does not sign in again yet: the back-off holds.
    let report = poll(&app, &source).await;
    assert!(report.error.as_deref().is_some_and(|e| e.contains("cannot sign in before")), "{report:?}");
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["healthy"], true, "{health}");
    assert!(health["lastError"].as_str().unwrap().contains("sign-in failed"), "{health}");
    assert_eq!(unhealthy_events(&app).await, 0);
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    let wait = row.sign_in_after.expect("a back-off") - chrono::Utc::now();
    assert!(wait > chrono::Duration::minutes(4) && wait <= chrono::Duration::minutes(5), "{wait}");
    pds.verify().await;
}
on_both_databases!(passing_sign_in_failures_back_off_and_keep_the_connection);

/// Two pieces of work renewing the same connection at once (two sources polled by two
/// workers): Bluesky takes each refresh token once, so one renewal wins and the other
/// adopts its tokens (or, if it read the row before the winner stored them, signs in
/// once); both requests succeed and the connection stays healthy.
async fn concurrent_renewals_keep_one_session(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let pds = MockServer::start().await;
    let (a1, r1, a2, r2, a3) =
        (jwt("a1", 7_200), jwt("r1", 86_400), jwt("a2", 7_200), jwt("r2", 86_400), jwt("a3", 7_200));
    Mock::given(method("POST")).and(path(CREATE)).respond_with(session(&a1, &r1)).up_to_n_times(1).mount(&pds).await;
    let input = json!({ "i": { "identifier": "verdure.bsky.social", "appPassword": "pw", "endpoint": pds.uri() } });
    let id = app.ok(Some(t), CONNECT, input).await["connectBluesky"]["id"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path(SEARCH))
        .and(header("authorization", format!("Bearer {a1}").as_str()))
        .respond_with(xrpc_error(400, "ExpiredToken", "Token has expired"))
        .mount(&pds)
        .await;
    // The first refresh wins; the refresh token is then spent.
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .and(header("authorization", format!("Bearer {r1}").as_str()))
        .respond_with(session(&a2, &r2))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&pds)
        .await;
    Mock::given(method("POST"))
        .and(path(REFRESH))
        .respond_with(xrpc_error(400, "ExpiredToken", "Token has been revoked"))
        .mount(&pds)
        .await;
    Mock::given(method("POST")).and(path(CREATE)).respond_with(session(&a3, &jwt("r3", 86_400))).mount(&pds).await;
    for token in [&a2, &a3] {
        Mock::given(method("GET"))
            .and(path(SEARCH))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(posts(1, 1))
            .mount(&pds)
            .await;
    }
    let (agency, connection_id) = (vigie_tests::db_id(&owner.agency_id), vigie_tests::db_id(&id));
    let url = format!("{}{SEARCH}?q=verdure", pds.uri());
    let work = async || {
        let credential = connections::Credential::of_connection(&app.services, agency, connection_id)
            .await
            .unwrap()
            .expect("the connection");
        credential.request(&url, None).await.map(|fetched| fetched.status)
    };
    let (one, two) = tokio::join!(work(), work());
    assert_eq!((one.unwrap(), two.unwrap()), (200, 200));
    let sign_ins = pds.received_requests().await.unwrap().iter().filter(|r| r.url.path() == CREATE).count();
    assert!(sign_ins <= 2, "the connection's own sign-in, and at most one more: {sign_ins}");
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert!(row.healthy);
    assert_eq!(row.version, 1, "one renewal stored");
}
on_both_databases!(concurrent_renewals_keep_one_session);
