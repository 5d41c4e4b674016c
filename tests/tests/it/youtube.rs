//! YouTube through OAuth 2 with PKCE, against local servers speaking Google's token
//! endpoint (RFC 6749 JSON, `invalid_grant`) and the YouTube Data API v3
//! (`channels`, `commentThreads`, `search`, their `nextPageToken` pages and error
//! bodies). A manager's authorisation URL carries Vigie's state and S256 challenge;
//! the callback serves once, exchanges the code with the matching verifier and stores
//! the channel's tokens sealed; polls spend quota units, renew a token refused with a
//! 401, and a revoked grant turns the connection unhealthy, once.

use base64::Engine;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::HashMap;
use vigie_domain::connections::oauth::{self, Callback, CallbackError};
use vigie_domain::entities::{connection, event, mention, oauth_grant, quota_budget, source};
use vigie_domain::{System, sources};
use vigie_tests::{ApiServer, Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{body_string_contains, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const START: &str = "mutation($i: StartOAuthConnectionInput!) { startOAuthConnection(input: $i) { url expiresAt } }";
const CHANNEL: &str = "UCverdure000000000000001";
const HEALTH: &str = "query($id: ID!) { node(id: $id) { ... on Connection { healthy lastError quotaRemaining quotaResetsAt expiresAt } } }";

/// An app whose YouTube application points at `google` (token and API alike).
async fn app_with_google(backend: Backend, google: &MockServer, units: &str) -> TestApp {
    let base = google.uri();
    TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_PUBLIC_URL", "https://vigie.example"),
            ("VIGIE_YOUTUBE_CLIENT_ID", "vigie-client.apps.googleusercontent.com"),
            ("VIGIE_YOUTUBE_CLIENT_SECRET", "GOCSPX-client-secret"),
            ("VIGIE_YOUTUBE_AUTH_URL", &format!("{base}/o/oauth2/v2/auth")),
            ("VIGIE_YOUTUBE_TOKEN_URL", &format!("{base}/token")),
            ("VIGIE_YOUTUBE_API_URL", &format!("{base}/youtube/v3")),
            ("VIGIE_YOUTUBE_REVOKE_URL", &format!("{base}/revoke")),
            ("VIGIE_YOUTUBE_DAILY_UNITS", units),
        ],
    )
    .await
}

/// Google's token answer.
fn tokens(access: &str, refresh: Option<&str>) -> ResponseTemplate {
    let mut body = json!({
        "access_token": access, "expires_in": 3599, "token_type": "Bearer",
        "scope": "https://www.googleapis.com/auth/youtube.force-ssl"
    });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn google_error(status: u16, reason: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": { "code": status, "message": format!("{reason} happened"),
                   "errors": [{ "message": "x", "domain": "youtube.quota", "reason": reason }] }
    }))
}

async fn mount_whoami(google: &MockServer, access: &str) {
    Mock::given(method("GET"))
        .and(path("/youtube/v3/channels"))
        .and(query_param("mine", "true"))
        .and(header("authorization", format!("Bearer {access}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "youtube#channelListResponse", "etag": "e", "pageInfo": { "totalResults": 1, "resultsPerPage": 5 },
            "items": [{ "kind": "youtube#channel", "etag": "e", "id": CHANNEL,
                        "snippet": { "title": "Verdure", "description": "", "customUrl": "@verdure", "publishedAt": "2019-01-01T00:00:00Z" } }]
        })))
        .mount(google)
        .await;
}

/// Starts an authorisation as `token` and returns its query parameters.
async fn start(app: &TestApp, token: &str, brand: &str) -> HashMap<String, String> {
    let started = app.ok(Some(token), START, json!({ "i": { "network": "YOUTUBE", "brandId": brand } })).await;
    let url = url::Url::parse(started["startOAuthConnection"]["url"].as_str().unwrap()).unwrap();
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

fn callback(code: &str, state: &str) -> Callback {
    Callback { code: Some(code.into()), state: Some(state.into()), error: None }
}

const COMPLETE: &str = "mutation($t: String!) { completeOAuthConnection(ticket: $t) { id account } }";

/// The network's callback with `code`, then the completion by the manager of `token`,
/// who started it: the stored connection.
async fn authorise(app: &TestApp, token: &str, code: &str, state: &str) -> connection::Model {
    let consented = oauth::callback(&app.services, "youtube", callback(code, state)).await.unwrap();
    let done = app.ok(Some(token), COMPLETE, json!({ "t": consented.ticket })).await;
    let id = vigie_tests::db_id(done["completeOAuthConnection"]["id"].as_str().unwrap());
    connection::Entity::find_by_id(id).one(&app.services.db).await.unwrap().unwrap()
}

fn comment(id: &str, author: &str, channel: &str, text: &str, at: &str, parent: Option<&str>) -> Value {
    let mut snippet = json!({
        "channelId": CHANNEL, "videoId": "vid00000001", "textDisplay": text, "textOriginal": text,
        "authorDisplayName": format!("@{author}"), "authorProfileImageUrl": "https://yt3.ggpht.com/a",
        "authorChannelUrl": format!("http://www.youtube.com/@{author}"), "authorChannelId": { "value": channel },
        "canRate": true, "viewerRating": "none", "likeCount": 3, "publishedAt": at, "updatedAt": at
    });
    if let Some(parent) = parent {
        snippet["parentId"] = json!(parent);
    }
    json!({ "kind": "youtube#comment", "etag": "e", "id": id, "snippet": snippet })
}

fn threads(items: Vec<Value>, next: Option<&str>) -> ResponseTemplate {
    let mut body = json!({
        "kind": "youtube#commentThreadListResponse", "etag": "e",
        "pageInfo": { "totalResults": items.len(), "resultsPerPage": 100 }, "items": items
    });
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

fn thread(top: Value, replies: Vec<Value>) -> Value {
    let id = top["id"].clone();
    json!({ "kind": "youtube#commentThread", "etag": "e", "id": id,
            "snippet": { "channelId": CHANNEL, "videoId": "vid00000001", "topLevelComment": top, "canReply": true,
                         "totalReplyCount": replies.len(), "isPublic": true },
            "replies": { "comments": replies } })
}

async fn mount_channels(google: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/youtube/v3/channels"))
        .and(query_param("part", "snippet,statistics"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "youtube#channelListResponse", "etag": "e",
            "items": [
                { "kind": "youtube#channel", "id": "UCfan0000000000000000001", "snippet": { "title": "Fan One", "customUrl": "@fanone" },
                  "statistics": { "viewCount": "10", "subscriberCount": "125000", "hiddenSubscriberCount": false, "videoCount": "3" } },
                { "kind": "youtube#channel", "id": CHANNEL, "snippet": { "title": "Verdure", "customUrl": "@verdure" },
                  "statistics": { "subscriberCount": "0", "hiddenSubscriberCount": true } }
            ]
        })))
        .mount(google)
        .await;
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

async fn a_youtube_channel_connects_with_pkce_and_its_comments_arrive(backend: Backend) {
    let (log, guard) = vigie_tests::logs::capture(tracing::Level::TRACE);
    let google = MockServer::start().await;
    let app = app_with_google(backend, &google, "10000").await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;

    // The authorisation URL: Vigie's application, its callback, an S256 challenge, a
    // state, and offline access for a refresh token.
    let params = start(&app, t, &brand).await;
    assert_eq!(params["client_id"], "vigie-client.apps.googleusercontent.com");
    assert_eq!(params["redirect_uri"], "https://vigie.example/oauth/youtube/callback");
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["access_type"], "offline");
    assert!(params["scope"].contains("youtube.force-ssl"));
    let state = params["state"].clone();
    assert!(state.len() >= 16);
    // The state is not kept, only its hash.
    let grant = oauth_grant::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert!(!grant.state_hash.contains(&state) && !grant.verifier.contains(&state));

    // The callback exchanges the code with the verifier whose hash was the challenge.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("code=4%2F0Acode"))
        .respond_with(tokens("ya29.one", Some("1//refresh-one")))
        .expect(1)
        .mount(&google)
        .await;
    mount_whoami(&google, "ya29.one").await;
    let created = authorise(&app, t, "4/0Acode", &state).await;
    let exchange = google.received_requests().await.unwrap().into_iter().find(|r| r.url.path() == "/token").unwrap();
    let form: HashMap<String, String> = url::form_urlencoded::parse(&exchange.body).into_owned().collect();
    let verifier = &form["code_verifier"];
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(challenge, params["code_challenge"], "the verifier matches the challenge");
    assert_eq!(form["redirect_uri"], "https://vigie.example/oauth/youtube/callback");
    assert_eq!((created.account.as_str(), created.account_id.as_deref()), ("@verdure", Some(CHANNEL)));
    assert_eq!(created.kind, "oauth2");
    assert_eq!(created.brand_id.map(|b| b.to_string()), Some(vigie_tests::db_id(&brand).to_string()));
    // The same state serves once.
    let replayed = oauth::callback(&app.services, "youtube", callback("4/0Acode", &state)).await;
    assert!(matches!(replayed, Err(CallbackError::UnknownState)), "{replayed:?}");
    // Sealed in the database, absent from the API.
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    for secret in ["ya29.one", "1//refresh-one", "GOCSPX-client-secret", verifier.as_str()] {
        assert!(!row.secret.contains(secret), "a secret is readable in the database");
    }
    let id =
        app.ok(Some(t), "query { connections { edges { node { id kind scopes } } } }", json!({})).await["connections"]
            ["edges"][0]["node"]
            .clone();
    assert_eq!(id["kind"], "oauth2");
    assert_eq!(id["scopes"], json!(["https://www.googleapis.com/auth/youtube.force-ssl"]));
    let id = id["id"].as_str().unwrap().to_owned();

    // A source on the brand's channel; YouTube sources need a connection.
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }";
    let anonymous = app
        .gql(
            Some(t),
            create,
            json!({ "i": { "brandId": brand, "network": "YOUTUBE", "kind": "ACCOUNT", "target": CHANNEL } }),
        )
        .await;
    assert_error(&anonymous, "BAD_USER_INPUT");
    let bad = app
        .gql(Some(t), create, json!({ "i": { "brandId": brand, "network": "YOUTUBE", "kind": "ACCOUNT", "target": "verdure", "connectionId": id } }))
        .await;
    assert_error(&bad, "BAD_USER_INPUT");
    let source = app
        .ok(Some(t), create, json!({ "i": { "brandId": brand, "network": "YOUTUBE", "kind": "ACCOUNT", "target": CHANNEL, "connectionId": id } }))
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // First poll: one page (no backfill); a fan's comment and the brand's reply, and a
    // second thread. Authors come with their subscriber counts.
    mount_channels(&google).await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/commentThreads"))
        .and(query_param("allThreadsRelatedToChannelId", CHANNEL))
        .and(query_param_is_missing("pageToken"))
        .and(header("authorization", "Bearer ya29.one"))
        .respond_with(threads(
            vec![
                thread(
                    comment(
                        "Ugw1",
                        "fanone",
                        "UCfan0000000000000000001",
                        "Mon colis Verdure n'est jamais arrivé, des nouvelles ?",
                        "2026-11-20T10:00:00Z",
                        None,
                    ),
                    vec![comment(
                        "Ugw1.r1",
                        "verdure",
                        CHANNEL,
                        "Nous regardons cela tout de suite.",
                        "2026-11-20T11:00:00Z",
                        Some("Ugw1"),
                    )],
                ),
                thread(
                    comment(
                        "Ugw0",
                        "fanone",
                        "UCfan0000000000000000001",
                        "J&#39;adore ce shampoing",
                        "2026-11-19T09:00:00Z",
                        None,
                    ),
                    vec![],
                ),
            ],
            Some("NEXT1"),
        ))
        .up_to_n_times(1)
        .mount(&google)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 3, error: None });
    let stored = mention::Entity::find().all(&app.services.db).await.unwrap();
    let question = stored.iter().find(|m| m.external_id == "Ugw1").unwrap();
    assert_eq!(question.url.as_deref(), Some("https://www.youtube.com/watch?v=vid00000001&lc=Ugw1"));
    assert!(question.is_direct, "a comment on the brand's own channel is addressed to it");
    let reply = stored.iter().find(|m| m.external_id == "Ugw1.r1").unwrap();
    assert_eq!(reply.in_reply_to.as_deref(), Some("Ugw1"));
    let fans = app
        .ok(
            Some(t),
            "query($b: ID!) { mentions(brandId: $b) { edges { node { externalId author { handle followers } } } } }",
            json!({ "b": brand }),
        )
        .await;
    assert!(fans.to_string().contains("\"handle\":\"fanone\"") && fans.to_string().contains("125000"), "{fans}");
    // Units counted: a page and a lookup, from the connection's share of the day
    // (2,500 by default) and from the project's 10,000.
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["quotaRemaining"], 2498, "{health}");
    assert_eq!(quota_budget::Entity::find().one(&app.services.db).await.unwrap().unwrap().remaining, 9998);
    assert!(health["quotaResetsAt"].is_string());

    // Second poll: Google says the token expired (401); it is refreshed (Google sends
    // no new refresh token) and the page read again. Only comments newer than the
    // cursor are stored, and the poll stops at the first thread seen before.
    Mock::given(method("GET"))
        .and(path("/youtube/v3/commentThreads"))
        .and(header("authorization", "Bearer ya29.one"))
        .respond_with(google_error(401, "authError"))
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=1%2F%2Frefresh-one"))
        .respond_with(tokens("ya29.two", None))
        .up_to_n_times(1)
        .mount(&google)
        .await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/commentThreads"))
        .and(header("authorization", "Bearer ya29.two"))
        .respond_with(threads(
            vec![
                thread(
                    comment(
                        "Ugw2",
                        "fanone",
                        "UCfan0000000000000000001",
                        "Toujours rien reçu !",
                        "2026-11-21T08:00:00Z",
                        None,
                    ),
                    vec![],
                ),
                thread(
                    comment(
                        "Ugw1",
                        "fanone",
                        "UCfan0000000000000000001",
                        "Mon colis Verdure n'est jamais arrivé, des nouvelles ?",
                        "2026-11-20T10:00:00Z",
                        None,
                    ),
                    vec![],
                ),
            ],
            Some("NEXT2"),
        ))
        .up_to_n_times(1)
        .mount(&google)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 1, error: None });

    // The grant is revoked: the token is refused and so is the refresh token. The
    // connection turns unhealthy with one event; the next poll does not try again.
    Mock::given(method("GET"))
        .and(path("/youtube/v3/commentThreads"))
        .and(header("authorization", "Bearer ya29.two"))
        .respond_with(google_error(401, "authError"))
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({ "error": "invalid_grant", "error_description": "Token has been expired or revoked." }),
        ))
        .expect(1)
        .mount(&google)
        .await;
    let refused = poll(&app, &source).await;
    assert!(refused.error.as_deref().is_some_and(|e| e.contains("invalid_grant")), "{refused:?}");
    assert_eq!(unhealthy_events(&app).await, 1);
    let again = poll(&app, &source).await;
    assert!(again.error.is_some());
    assert_eq!(unhealthy_events(&app).await, 1);
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["healthy"], false);

    // Consenting again reconnects the same connection, and its source polls again.
    let state = start(&app, t, &brand).await["state"].clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(tokens("ya29.three", Some("1//refresh-three")))
        .mount(&google)
        .await;
    mount_whoami(&google, "ya29.three").await;
    let reconnected = authorise(&app, t, "4/0Bcode", &state).await;
    assert_eq!(reconnected.id, row.id);
    assert!(reconnected.healthy);
    assert_eq!(connection::Entity::find().all(&app.services.db).await.unwrap().len(), 1);
    let due = source::Entity::find_by_id(vigie_tests::db_id(&source)).one(&app.services.db).await.unwrap().unwrap();
    assert!(due.next_poll_at.is_some_and(|at| at <= chrono::Utc::now()));

    // Deleting the connection revokes its grant at Google.
    Mock::given(method("POST"))
        .and(path("/revoke"))
        .and(body_string_contains("token=1%2F%2Frefresh-three"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&google)
        .await;
    app.ok(Some(t), "mutation($id: ID!) { deleteConnection(id: $id) { deletedId } }", json!({ "id": id })).await;
    google.verify().await;

    drop(guard);
    let logged = log.text();
    for secret in
        ["ya29.one", "ya29.two", "ya29.three", "1//refresh-one", "GOCSPX-client-secret", verifier.as_str(), &state]
    {
        assert!(!logged.contains(secret), "a secret reached the logs");
    }
}
on_both_databases!(a_youtube_channel_connects_with_pkce_and_its_comments_arrive);

/// Connects the brand's channel directly through the domain, for tests about what comes
/// after; returns the connection's global id.
async fn connect(app: &TestApp, google: &MockServer, token: &str, brand: &str) -> String {
    let state = start(app, token, brand).await["state"].clone();
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(tokens("ya29.one", Some("1//refresh-one")))
        .mount(google)
        .await;
    mount_whoami(google, "ya29.one").await;
    authorise(app, token, "4/0Acode", &state).await;
    app.ok(Some(token), "query { connections { edges { node { id } } } }", json!({})).await["connections"]["edges"][0]
        ["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn youtube_searches_spend_quota_units_and_wait_for_the_next_day(backend: Backend) {
    let google = MockServer::start().await;
    // A day's budget of 250 units: two searches and their lookups fit, a third does not.
    let app = app_with_google(backend, &google, "250").await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let id = connect(&app, &google, t, &brand).await;
    let source = app
        .ok(
            Some(t),
            "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }",
            json!({ "i": { "brandId": brand, "network": "YOUTUBE", "kind": "SEARCH", "target": "verdure shampoing", "connectionId": id } }),
        )
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    mount_channels(&google).await;
    let video = |id: &str, at: &str, title: &str| {
        json!({ "kind": "youtube#searchResult", "etag": "e", "id": { "kind": "youtube#video", "videoId": id },
                "snippet": { "publishedAt": at, "channelId": "UCfan0000000000000000001", "title": title,
                             "description": "Test complet", "channelTitle": "Fan One", "liveBroadcastContent": "none" } })
    };
    Mock::given(method("GET"))
        .and(path("/youtube/v3/search"))
        .and(query_param("q", "verdure shampoing"))
        .and(query_param("type", "video"))
        .and(query_param_is_missing("publishedAfter"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "youtube#searchListResponse", "nextPageToken": "CDIQAA", "regionCode": "FR",
            "pageInfo": { "totalResults": 2, "resultsPerPage": 50 },
            "items": [video("vidA", "2026-11-20T10:00:00Z", "Verdure : j&#39;ai test&eacute; le shampoing solide")]
        })))
        .expect(1)
        .mount(&google)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 1, error: None });
    let stored = mention::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert!(stored.text.starts_with("Verdure : j'ai testé le shampoing solide"), "{}", stored.text);
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["quotaRemaining"], 149, "a search (100) and a lookup (1): {health}");

    let project = quota_budget::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(project.remaining, 149, "every connection's calls count against the project");

    // The next poll asks for what was published since two hours before the newest
    // video (search indexes late); Google says the project's quota is spent, so the
    // rest of the day is, for every connection.
    Mock::given(method("GET"))
        .and(path("/youtube/v3/search"))
        .and(query_param("publishedAfter", "2026-11-20T08:00:00Z"))
        .respond_with(google_error(403, "quotaExceeded"))
        .expect(1)
        .mount(&google)
        .await;
    let exceeded = poll(&app, &source).await;
    assert!(exceeded.error.as_deref().is_some_and(|e| e.contains("429") || e.contains("rate")), "{exceeded:?}");
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["quotaRemaining"], 0);
    assert_eq!(health["healthy"], true, "a spent quota is not a revoked grant");
    let waiting = source::Entity::find_by_id(vigie_tests::db_id(&source)).one(&app.services.db).await.unwrap().unwrap();
    assert!(
        waiting.next_poll_at.is_some_and(|at| at > chrono::Utc::now() + chrono::Duration::minutes(30)),
        "{waiting:?}"
    );

    // Nothing is spent on a call that cannot be paid for: a poll now makes no request.
    let before = google.received_requests().await.unwrap().len();
    let unpaid = poll(&app, &source).await;
    assert!(unpaid.error.is_some());
    assert_eq!(google.received_requests().await.unwrap().len(), before);

    assert_eq!(quota_budget::Entity::find().one(&app.services.db).await.unwrap().unwrap().remaining, 0);

    // A new quota day (the reset passed): the budget is whole again. A malformed
    // answer is an error on the source, not a crash.
    new_quota_day(&app).await;
    google.reset().await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy</html>"))
        .mount(&google)
        .await;
    let malformed = poll(&app, &source).await;
    assert!(malformed.error.as_deref().is_some_and(|e| e.contains("malformed")), "{malformed:?}");
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["quotaRemaining"], 150);

    // A 429 from the API backs the source off with its Retry-After.
    new_quota_day(&app).await;
    google.reset().await;
    Mock::given(method("GET"))
        .and(path("/youtube/v3/search"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "900"))
        .mount(&google)
        .await;
    let limited = poll(&app, &source).await;
    assert!(limited.error.as_deref().is_some_and(|e| e.contains("429")), "{limited:?}");
    let waiting = source::Entity::find_by_id(vigie_tests::db_id(&source)).one(&app.services.db).await.unwrap().unwrap();
    assert!(waiting.next_poll_at.is_some_and(|at| at > chrono::Utc::now() + chrono::Duration::minutes(14)));
}
on_both_databases!(youtube_searches_spend_quota_units_and_wait_for_the_next_day);

/// Moves the project's and every connection's quota day to its end.
async fn new_quota_day(app: &TestApp) {
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    connection::Entity::update_many()
        .col_expr(connection::Column::QuotaResetsAt, sea_orm::sea_query::Expr::value(past))
        .exec(&app.services.db)
        .await
        .unwrap();
    quota_budget::Entity::update_many()
        .col_expr(quota_budget::Column::ResetsAt, sea_orm::sea_query::Expr::value(past))
        .exec(&app.services.db)
        .await
        .unwrap();
}

async fn the_oauth_callback_serves_once_its_own_manager_in_time(backend: Backend) {
    let google = MockServer::start().await;
    let app = app_with_google(backend, &google, "10000").await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    mount_whoami(&google, "ya29.one").await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("code=good"))
        .respond_with(tokens("ya29.one", Some("1//refresh-one")))
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("code=stale"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "invalid_grant", "error_description": "Bad Request" })),
        )
        .mount(&google)
        .await;

    // Over HTTP: the page says what happened and gives the ticket, is never cached and
    // sends no referrer; an unknown state and a replay are refused alike.
    let server = ApiServer::start(app.services.config.clone()).await;
    let http = reqwest::Client::new();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}/oauth/youtube/callback?{query}", server.base);
        async move { http.get(url).send().await.unwrap() }
    };
    let state = start(&app, t, &brand).await["state"].clone();
    let connected = get(format!("code=good&state={state}")).await;
    assert_eq!(connected.status(), 200);
    assert_eq!(connected.headers()["cache-control"], "no-store");
    assert_eq!(connected.headers()["referrer-policy"], "no-referrer");
    let page = connected.text().await.unwrap();
    assert!(page.contains("@verdure authorised Vigie on youtube for the brand Verdure of the agency Agency"), "{page}");
    let ticket = page.split("ticket: \"").nth(1).and_then(|rest| rest.split('"').next()).unwrap().to_owned();
    // Nothing is connected until the manager who started it completes it: not another
    // admin of the agency (a consent link forwarded to the wrong person), nor a
    // manager of another agency.
    assert!(connection::Entity::find().all(&app.services.db).await.unwrap().is_empty());
    let colleague = app.invite_and_accept(t, "colleague@example.com", "ADMIN", &[]).await;
    assert_error(&app.gql(Some(&colleague.access_token), COMPLETE, json!({ "t": ticket })).await, "NOT_FOUND");
    let stranger = app.sign_up("Stranger", "stranger@example.com").await;
    assert_error(&app.gql(Some(&stranger.access_token), COMPLETE, json!({ "t": ticket })).await, "NOT_FOUND");
    let done = app.ok(Some(t), COMPLETE, json!({ "t": ticket })).await;
    assert_eq!(done["completeOAuthConnection"]["account"], "@verdure");
    assert_error(&app.gql(Some(t), COMPLETE, json!({ "t": ticket })).await, "NOT_FOUND");
    assert_eq!(get(format!("code=good&state={state}")).await.status(), 400);
    assert_eq!(get("code=good&state=forged".into()).await.status(), 400);
    assert_eq!(get(format!("code=good&state={state}")).await.status(), 400);
    assert_eq!(get("code=good".into()).await.status(), 400);
    // A state is bound to its network.
    let state = start(&app, t, &brand).await["state"].clone();
    assert_eq!(server_get(&http, &server.base, &format!("/oauth/bluesky/callback?code=good&state={state}")).await, 400);
    // The manager refused on the consent page: the grant is spent, nothing stored.
    let denied = get(format!("error=access_denied&state={state}")).await;
    assert_eq!(denied.status(), 400);
    assert!(denied.text().await.unwrap().contains("refused"));
    // A code Google does not accept.
    let state = start(&app, t, &brand).await["state"].clone();
    assert_eq!(get(format!("code=stale&state={state}")).await.status(), 502);
    server.stop().await;
    assert_eq!(connection::Entity::find().all(&app.services.db).await.unwrap().len(), 1);

    // With a front-end configured, the browser goes back to it with the ticket.
    let mut config = (*app.services.config).clone();
    config.app_url = Some(url::Url::parse("https://app.vigie.example/connections?tab=networks").unwrap());
    let server = ApiServer::start(std::sync::Arc::new(config)).await;
    let state = start(&app, t, &brand).await["state"].clone();
    let direct = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back =
        direct.get(format!("{}/oauth/youtube/callback?code=good&state={state}", server.base)).send().await.unwrap();
    assert_eq!(back.status(), 303);
    let location = url::Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!((location.host_str(), location.path()), (Some("app.vigie.example"), "/connections"));
    let pairs: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!((pairs["tab"].as_str(), pairs["network"].as_str()), ("networks", "youtube"));
    app.ok(Some(t), COMPLETE, json!({ "t": pairs["oauthTicket"] })).await;
    server.stop().await;
    // Ten minutes after the callback, an uncompleted authorisation is gone.
    let state = start(&app, t, &brand).await["state"].clone();
    let consented = oauth::callback(&app.services, "youtube", callback("good", &state)).await.unwrap();
    oauth_grant::Entity::update_many()
        .col_expr(
            oauth_grant::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.services.db)
        .await
        .unwrap();
    assert_error(&app.gql(Some(t), COMPLETE, json!({ "t": consented.ticket })).await, "NOT_FOUND");
    // The sweep deletes it; its grant is not revoked, since the channel is connected
    // (Google would revoke the connection's grant with it).
    assert!(oauth::sweep(&app.services).await.unwrap() >= 1);
    assert!(
        oauth_grant::Entity::find()
            .all(&app.services.db)
            .await
            .unwrap()
            .iter()
            .all(|g| g.expires_at > chrono::Utc::now())
    );
    assert!(google.received_requests().await.unwrap().iter().all(|r| r.url.path() != "/revoke"));

    // Ten minutes later, the authorisation is gone.
    let state = start(&app, t, &brand).await["state"].clone();
    oauth_grant::Entity::update_many()
        .col_expr(
            oauth_grant::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(&app.services.db)
        .await
        .unwrap();
    let late = oauth::callback(&app.services, "youtube", callback("good", &state)).await;
    assert!(matches!(late, Err(CallbackError::UnknownState)), "{late:?}");

    // An admin who started it and was removed before the callback connects nothing;
    // nor does one whose brand was deleted meanwhile.
    let admin = app.invite_and_accept(t, "admin@example.com", "ADMIN", &[]).await;
    let state = start(&app, &admin.access_token, &brand).await["state"].clone();
    app.ok(
        Some(t),
        "mutation($id: ID!) { removeMember(memberId: $id) { deletedId } }",
        json!({ "id": member_id(&app, t, "admin@example.com").await }),
    )
    .await;
    let removed = oauth::callback(&app.services, "youtube", callback("good", &state)).await;
    assert!(matches!(removed, Err(CallbackError::Forbidden)), "{removed:?}");
    let other = app.create_brand(t, "Other").await;
    let state = start(&app, t, &other).await["state"].clone();
    app.ok(Some(t), "mutation($id: ID!) { deleteBrand(id: $id) { deletedId } }", json!({ "id": other })).await;
    let gone = oauth::callback(&app.services, "youtube", callback("good", &state)).await;
    assert!(gone.is_err(), "{gone:?}");
    assert_eq!(connection::Entity::find().all(&app.services.db).await.unwrap().len(), 1);

    // Members and client viewers cannot start one; a network without OAuth is an
    // input error.
    let member = app.invite_and_accept(t, "member@example.com", "MEMBER", &[&brand]).await;
    let refused =
        app.gql(Some(&member.access_token), START, json!({ "i": { "network": "YOUTUBE", "brandId": brand } })).await;
    assert_error(&refused, "FORBIDDEN");
    let mastodon = app.gql(Some(t), START, json!({ "i": { "network": "MASTODON" } })).await;
    assert_error(&mastodon, "BAD_USER_INPUT");
}
on_both_databases!(the_oauth_callback_serves_once_its_own_manager_in_time);

async fn server_get(http: &reqwest::Client, base: &str, path: &str) -> u16 {
    http.get(format!("{base}{path}")).send().await.unwrap().status().as_u16()
}

async fn member_id(app: &TestApp, token: &str, email: &str) -> String {
    let members = app.ok(Some(token), "query { members { edges { node { id user { email } } } } }", json!({})).await;
    members["members"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["node"]["user"]["email"] == email)
        .unwrap()["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn without_an_application_youtube_cannot_be_connected(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let refused = app.gql(Some(&owner.access_token), START, json!({ "i": { "network": "YOUTUBE" } })).await;
    assert_error(&refused, "UNAVAILABLE");
}
on_both_databases!(without_an_application_youtube_cannot_be_connected);

const RESPOND: &str = "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status replies { status } } }";
const TICKET: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status firstResponseAt responseChannel replies { status url externalId attempts lastError } } } }";

/// The brand's tickets on YouTube comments, by the comment's id.
async fn youtube_tickets(app: &TestApp, token: &str, brand: &str) -> HashMap<String, String> {
    let tickets = app
        .ok(
            Some(token),
            "query($b: ID!) { tickets(brandId: $b) { edges { node { id mention { externalId } } } } }",
            json!({ "b": brand }),
        )
        .await;
    tickets["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["mention"]["externalId"].as_str().unwrap().to_owned(),
                e["node"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn inserted(id: &str, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "kind": "youtube#comment", "etag": "e", "id": id,
        "snippet": { "channelId": CHANNEL, "textDisplay": text, "textOriginal": text, "parentId": "UgzQ",
                     "authorDisplayName": "@verdure", "authorChannelId": { "value": CHANNEL },
                     "canRate": true, "viewerRating": "none", "likeCount": 0,
                     "publishedAt": chrono::Utc::now().to_rfc3339(), "updatedAt": chrono::Utc::now().to_rfc3339() }
    }))
}

fn replies_of(items: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({ "kind": "youtube#commentListResponse", "etag": "e", "items": items }))
}

async fn replies_to_youtube_comments_are_published_once(backend: Backend) {
    let google = MockServer::start().await;
    let app = app_with_google(backend, &google, "10000").await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    connect(&app, &google, t, &brand).await;
    let source = app.create_source(Some(t), &brand).await;
    let comment = |id: &str, text: &str| {
        let mut m = vigie_tests::new_mention(id, "fanone", text, 5_000);
        m.network = "youtube".into();
        m.url = Some(format!("https://www.youtube.com/watch?v=vid00000001&lc={id}"));
        m.direct = true;
        m
    };
    let mut video = comment("vid00000002", "Verdure, where can I buy the refills? Nobody answers.");
    video.url = Some("https://www.youtube.com/watch?v=vid00000002".into());
    app.collect(
        &source,
        vec![
            // A reply in a thread: Vigie answers under the thread's top-level comment.
            comment("UgzQ.8xR2", "Verdure, where can I buy the refills?"),
            comment("UgzC", "Verdure, my parcel never arrived, can you help?"),
            comment("UgzD", "Verdure, why can I not comment on your videos any more?"),
            video,
        ],
    )
    .await;
    let tickets = youtube_tickets(&app, t, &brand).await;
    assert_eq!(tickets.len(), 4, "{tickets:?}");

    // A video found by a search is not a comment to answer.
    assert_error(
        &app.gql(Some(t), RESPOND, json!({ "id": tickets["vid00000002"], "text": "Hello" })).await,
        "BAD_USER_INPUT",
    );

    // The first insert meets a 503; Vigie looks for its reply before saying so, and
    // again before the next attempt, which publishes it under the top-level comment.
    let text = "Hello! Every shop on verdure.example/shops has them.";
    Mock::given(method("GET"))
        .and(path("/youtube/v3/comments"))
        .and(query_param("parentId", "UgzQ"))
        .respond_with(replies_of(vec![]))
        .expect(2)
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/youtube/v3/comments"))
        .respond_with(google_error(503, "backendError"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&google)
        .await;
    Mock::given(method("POST"))
        .and(path("/youtube/v3/comments"))
        .and(query_param("part", "snippet"))
        .and(header("authorization", "Bearer ya29.one"))
        .and(wiremock::matchers::body_json(json!({ "snippet": { "parentId": "UgzQ", "textOriginal": text } })))
        .respond_with(inserted("UgzQ.9yS3", text))
        .expect(1)
        .mount(&google)
        .await;
    let ticket = &tickets["UgzQ.8xR2"];
    app.ok(Some(t), RESPOND, json!({ "id": ticket, "text": text })).await;
    let row = vigie_domain::entities::reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let waiting = app.ok(Some(t), TICKET, json!({ "id": ticket })).await["node"].clone();
    assert_eq!(waiting["replies"][0]["status"], "PENDING");
    assert!(waiting["replies"][0]["lastError"].as_str().unwrap().contains("HTTP 503"), "{waiting}");
    let mut due: vigie_domain::entities::reply::ActiveModel = row.clone().into();
    due.next_attempt_at = Set(Some(chrono::Utc::now()));
    due.update(&app.services.db).await.unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": ticket })).await["node"].clone();
    assert_eq!(done["status"], "ANSWERED", "{done}");
    assert_eq!(done["responseChannel"], "youtube");
    assert_eq!(done["replies"][0]["externalId"], "UgzQ.9yS3");
    assert_eq!(done["replies"][0]["url"], "https://www.youtube.com/watch?v=vid00000001&lc=UgzQ.9yS3");
    // Units: two inserts (50 each) and two lookups (1 each), after the connection's
    // own lookups (none: the channel was read before the connection existed).
    let units = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap().quota_remaining;
    assert_eq!(units, Some(2_500 - 2 * 50 - 2));

    // An attempt whose worker died after YouTube took the comment: the next attempt
    // finds it among the channel's replies and posts nothing.
    let text = "Sorry about that: we are sending a new parcel today.";
    app.ok(Some(t), RESPOND, json!({ "id": tickets["UgzC"], "text": text })).await;
    let row = vigie_domain::entities::reply::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.text == text)
        .unwrap();
    let mut crashed: vigie_domain::entities::reply::ActiveModel = row.clone().into();
    crashed.attempts = Set(1);
    crashed.next_attempt_at = Set(Some(chrono::Utc::now()));
    crashed.update(&app.services.db).await.unwrap();
    Mock::given(method("GET"))
        .and(path("/youtube/v3/comments"))
        .and(query_param("parentId", "UgzC"))
        .respond_with(replies_of(vec![
            json!({ "kind": "youtube#comment", "id": "UgzC.other", "snippet": { "authorChannelId": { "value": "UCfan0000000000000000001" }, "textOriginal": text, "publishedAt": chrono::Utc::now().to_rfc3339() } }),
            json!({ "kind": "youtube#comment", "id": "UgzC.ours", "snippet": { "authorChannelId": { "value": CHANNEL }, "textOriginal": text, "publishedAt": chrono::Utc::now().to_rfc3339() } }),
        ]))
        .mount(&google)
        .await;
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": tickets["UgzC"] })).await["node"].clone();
    assert_eq!(done["replies"][0]["externalId"], "UgzC.ours", "{done}");
    let inserts = google
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/youtube/v3/comments")
        .count();
    assert_eq!(inserts, 2, "the first reply's two attempts, none for this one");

    // Comments turned off on the video: a refusal, said on the ticket, which stays open.
    google.reset().await;
    Mock::given(method("POST"))
        .and(path("/youtube/v3/comments"))
        .respond_with(google_error(403, "commentsDisabled"))
        .mount(&google)
        .await;
    app.ok(Some(t), RESPOND, json!({ "id": tickets["UgzD"], "text": "We are on it." })).await;
    let row = vigie_domain::entities::reply::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.text == "We are on it.")
        .unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let refused = app.ok(Some(t), TICKET, json!({ "id": tickets["UgzD"] })).await["node"].clone();
    assert_eq!(refused["status"], "OPEN");
    assert_eq!(refused["replies"][0]["status"], "FAILED");
    assert!(refused["replies"][0]["lastError"].as_str().unwrap().contains("commentsDisabled"), "{refused}");
}
on_both_databases!(replies_to_youtube_comments_are_published_once);

async fn a_channel_far_behind_catches_up_page_by_page(backend: Backend) {
    let google = MockServer::start().await;
    let app = app_with_google(backend, &google, "10000").await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let id = connect(&app, &google, t, &brand).await;
    mount_channels(&google).await;
    let source = app
        .ok(
            Some(t),
            "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }",
            json!({ "i": { "brandId": brand, "network": "YOUTUBE", "kind": "ACCOUNT", "target": CHANNEL, "connectionId": id } }),
        )
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fan = "UCfan0000000000000000001";
    let at = |hour: u32, minute: u32| format!("2026-11-20T{hour:02}:{minute:02}:00Z");
    // First poll: one thread, the position from which the next polls start.
    Mock::given(method("GET"))
        .and(path("/youtube/v3/commentThreads"))
        .respond_with(threads(
            vec![thread(comment("Ugw0", "fanone", fan, "Verdure first", &at(10, 0), None), vec![])],
            None,
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&google)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 1, error: None });

    // Then six pages of new threads: a poll reads five, and the next goes on from the
    // sixth instead of skipping it. The first page's thread carries one of its three
    // replies: the others are read with comments.list.
    for page in 1..=6u32 {
        let top =
            comment(&format!("Ugw{page}"), "fanone", fan, &format!("Verdure thread {page}"), &at(17 - page, 0), None);
        let replies = if page == 1 {
            vec![comment("Ugw1.a", "fanone", fan, "first reply", &at(16, 5), Some("Ugw1"))]
        } else {
            vec![]
        };
        let mut item = thread(top, replies);
        if page == 1 {
            item["snippet"]["totalReplyCount"] = json!(3);
        }
        let next = (page < 6).then(|| format!("P{}", page + 1));
        let mut mock = Mock::given(method("GET")).and(path("/youtube/v3/commentThreads"));
        mock = if page == 1 {
            mock.and(query_param_is_missing("pageToken"))
        } else {
            mock.and(query_param("pageToken", format!("P{page}").as_str()))
        };
        let mut items = vec![item];
        if page == 6 {
            // The last page reaches what the first poll stored.
            items.push(thread(comment("Ugw0", "fanone", fan, "Verdure first", &at(10, 0), None), vec![]));
        }
        mock.respond_with(threads(items, next.as_deref())).mount(&google).await;
    }
    Mock::given(method("GET"))
        .and(path("/youtube/v3/comments"))
        .and(query_param("parentId", "Ugw1"))
        .respond_with(replies_of(vec![
            comment("Ugw1.a", "fanone", fan, "first reply", &at(16, 5), Some("Ugw1")),
            comment("Ugw1.b", "fanone", fan, "second reply", &at(16, 10), Some("Ugw1")),
            comment("Ugw1.c", "fanone", fan, "third reply", &at(16, 15), Some("Ugw1")),
        ]))
        .expect(1)
        .mount(&google)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 5 + 3, error: None });
    let cursor =
        source::Entity::find_by_id(vigie_tests::db_id(&source)).one(&app.services.db).await.unwrap().unwrap().cursor;
    assert_eq!(cursor.as_ref().unwrap()["resume"], "P6", "{cursor:?}");
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 1, error: None });
    let cursor =
        source::Entity::find_by_id(vigie_tests::db_id(&source)).one(&app.services.db).await.unwrap().unwrap().cursor;
    assert_eq!(cursor, Some(json!({ "since": "2026-11-20T16:15:00Z" })), "caught up: from the newest comment seen");
    let stored: Vec<String> =
        mention::Entity::find().all(&app.services.db).await.unwrap().into_iter().map(|m| m.external_id).collect();
    for id in ["Ugw0", "Ugw1", "Ugw1.a", "Ugw1.b", "Ugw1.c", "Ugw5", "Ugw6"] {
        assert!(stored.contains(&id.to_owned()), "{id} in {stored:?}");
    }
}
on_both_databases!(a_channel_far_behind_catches_up_page_by_page);
