//! Reddit through OAuth 2, against local servers speaking Reddit's token endpoint
//! (HTTP Basic client authentication, `duration=permanent` refresh tokens) and its API
//! (`/api/v1/me`, `Listing` pages chained by `after`, `X-Ratelimit-*` headers, 429,
//! `/api/comment` with its errors in `json.errors`).

use base64::Engine;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::collections::HashMap;
use vigie_domain::connections::oauth::{self, Callback};
use vigie_domain::entities::{mention, reply, source};
use vigie_domain::{System, sources};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{body_string_contains, header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const START: &str = "mutation($i: StartOAuthConnectionInput!) { startOAuthConnection(input: $i) { url } }";
const COMPLETE: &str =
    "mutation($t: String!) { completeOAuthConnection(ticket: $t) { id account accountId kind scopes } }";
const HEALTH: &str = "query($id: ID!) { node(id: $id) { ... on Connection { healthy quotaRemaining quotaResetsAt } } }";

async fn app_with_reddit(backend: Backend, reddit: &MockServer) -> TestApp {
    let base = reddit.uri();
    TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_PUBLIC_URL", "https://vigie.example"),
            ("VIGIE_REDDIT_CLIENT_ID", "vigie-reddit-app"),
            ("VIGIE_REDDIT_CLIENT_SECRET", "reddit-secret"),
            ("VIGIE_REDDIT_AUTH_URL", &format!("{base}/api/v1/authorize")),
            ("VIGIE_REDDIT_TOKEN_URL", &format!("{base}/api/v1/access_token")),
            ("VIGIE_REDDIT_API_URL", &base),
        ],
    )
    .await
}

fn tokens(access: &str, refresh: Option<&str>) -> ResponseTemplate {
    let mut body = json!({ "access_token": access, "token_type": "bearer", "expires_in": 86400, "scope": "identity read submit history" });
    if let Some(refresh) = refresh {
        body["refresh_token"] = json!(refresh);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

/// A Listing page as Reddit sends it, with its rate-limit headers.
fn listing(children: Vec<Value>, after: Option<&str>, remaining: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({ "kind": "Listing", "data": { "after": after, "dist": children.len(), "modhash": "", "before": null, "children": children } }))
        .insert_header("x-ratelimit-used", "4")
        .insert_header("x-ratelimit-remaining", remaining)
        .insert_header("x-ratelimit-reset", "420")
}

fn post(id: &str, author: &str, title: &str, created: f64) -> Value {
    json!({ "kind": "t3", "data": {
        "id": id, "name": format!("t3_{id}"), "author": author, "author_fullname": "t2_x", "title": title,
        "selftext": "Anyone tried it?", "subreddit": "zerowaste", "permalink": format!("/r/zerowaste/comments/{id}/slug/"),
        "url": format!("https://www.reddit.com/r/zerowaste/comments/{id}/slug/"), "created_utc": created,
        "score": 42, "ups": 42, "num_comments": 7, "over_18": false
    } })
}

fn comment(id: &str, author: &str, body: &str, parent: &str, link_author: &str, created: f64) -> Value {
    json!({ "kind": "t1", "data": {
        "id": id, "name": format!("t1_{id}"), "author": author, "body": body, "parent_id": parent,
        "link_id": "t3_p1", "link_author": link_author, "subreddit": "zerowaste",
        "permalink": format!("/r/zerowaste/comments/p1/slug/{id}/"), "created_utc": created, "score": 3
    } })
}

/// Connects the brand's Reddit account; returns the connection's global id.
async fn connect(app: &TestApp, reddit: &MockServer, token: &str, brand: &str) -> Value {
    let started = app.ok(Some(token), START, json!({ "i": { "network": "REDDIT", "brandId": brand } })).await;
    let url = url::Url::parse(started["startOAuthConnection"]["url"].as_str().unwrap()).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["duration"], "permanent", "a refresh token");
    assert_eq!(params["scope"], "identity read submit history");
    assert_eq!(params["redirect_uri"], "https://vigie.example/oauth/reddit/callback");
    assert_eq!(params["code_challenge_method"], "S256");
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("vigie-reddit-app:reddit-secret"));
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header("authorization", basic.as_str()))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(tokens("reddit-access-1", Some("reddit-refresh-1")))
        .mount(reddit)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/me"))
        .and(header("authorization", "Bearer reddit-access-1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "name": "Verdure_FR", "id": "8xk2p", "total_karma": 1200 })),
        )
        .mount(reddit)
        .await;
    let callback = Callback { code: Some("reddit-code".into()), state: Some(params["state"].clone()), error: None };
    let consented = oauth::callback(&app.services, "reddit", callback).await.unwrap();
    app.ok(Some(token), COMPLETE, json!({ "t": consented.ticket })).await["completeOAuthConnection"].clone()
}

async fn poll(app: &TestApp, source: &str) -> sources::PollReport {
    sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(source)).await.unwrap()
}

async fn reddit_searches_and_communities_arrive_through_a_connection(backend: Backend) {
    let reddit = MockServer::start().await;
    let app = app_with_reddit(backend, &reddit).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let connection = connect(&app, &reddit, t, &brand).await;
    assert_eq!(
        (connection["account"].clone(), connection["accountId"].clone(), connection["kind"].clone()),
        (json!("Verdure_FR"), json!("t2_8xk2p"), json!("oauth2"))
    );
    let id = connection["id"].as_str().unwrap().to_owned();
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
    assert_error(
        &app.gql(
            Some(t),
            create,
            json!({ "i": { "brandId": brand, "network": "REDDIT", "kind": "SEARCH", "target": "verdure" } }),
        )
        .await,
        "BAD_USER_INPUT",
    );
    let search = app
        .ok(Some(t), create, json!({ "i": { "brandId": brand, "network": "REDDIT", "kind": "SEARCH", "target": "verdure", "connectionId": id } }))
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // First poll: one page from now; the rate limit's headers become the quota.
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("q", "verdure"))
        .and(query_param("sort", "new"))
        .and(query_param("raw_json", "1"))
        .and(query_param_is_missing("after"))
        .and(header("authorization", "Bearer reddit-access-1"))
        .respond_with(listing(
            vec![post("p1", "Leafy_Fan", "Verdure shampoo bars: worth it?", 1_764_000_000.0)],
            Some("t3_p1"),
            "596",
        ))
        .up_to_n_times(1)
        .mount(&reddit)
        .await;
    assert_eq!(poll(&app, &search).await, sources::PollReport { stored: 1, error: None });
    let stored = mention::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(stored.url.as_deref(), Some("https://www.reddit.com/r/zerowaste/comments/p1/slug/"));
    assert_eq!(stored.external_id, "t3_p1");
    let health = app.ok(Some(t), HEALTH, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["quotaRemaining"], 596, "{health}");

    // Second poll: Reddit says the token expired (401); it is refreshed with the
    // permanent refresh token, and two pages are read down to the post seen before.
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(header("authorization", "Bearer reddit-access-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "message": "Unauthorized", "error": 401 })))
        .mount(&reddit)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=reddit-refresh-1"))
        .respond_with(tokens("reddit-access-2", None))
        .expect(1)
        .mount(&reddit)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param_is_missing("after"))
        .and(header("authorization", "Bearer reddit-access-2"))
        .respond_with(listing(
            vec![post("p3", "Leafy_Fan", "Verdure refills are late again", 1_764_000_300.0)],
            Some("t3_p3"),
            "590",
        ))
        .mount(&reddit)
        .await;
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("after", "t3_p3"))
        .respond_with(listing(
            vec![
                post("p2", "[deleted]", "removed account", 1_764_000_200.0),
                post("p2b", "Other_Fan", "Verdure vs the rest", 1_764_000_100.0),
                post("p1", "Leafy_Fan", "Verdure shampoo bars: worth it?", 1_764_000_000.0),
                // Older than the overlap: where the reading stops.
                post("p0", "Leafy_Fan", "Verdure, an old post", 1_763_990_000.0),
            ],
            Some("t3_p0"),
            "589",
        ))
        .mount(&reddit)
        .await;
    // The post seen before comes back within the overlap (search indexes late) and is
    // stored once.
    assert_eq!(poll(&app, &search).await, sources::PollReport { stored: 3, error: None });
    assert_eq!(mention::Entity::find().all(&app.services.db).await.unwrap().len(), 3);

    // A poll that spent its page budget before reaching what it had seen goes on from
    // the page it did not read (`after`), then takes the newest it saw as the mark.
    let mut behind: source::ActiveModel =
        source::Entity::find_by_id(vigie_tests::db_id(&search)).one(&app.services.db).await.unwrap().unwrap().into();
    behind.cursor = Set(Some(json!({ "since": 1_764_000_300.0, "resume": "t3_r5", "newest": 1_764_009_000.0 })));
    behind.update(&app.services.db).await.unwrap();
    Mock::given(method("GET"))
        .and(path("/search"))
        .and(query_param("after", "t3_r5"))
        .respond_with(listing(
            vec![
                post("r4", "Leafy_Fan", "Verdure, late page", 1_764_000_800.0),
                post("p3", "Leafy_Fan", "Verdure refills are late again", 1_764_000_300.0),
                post("p1", "Leafy_Fan", "Verdure shampoo bars: worth it?", 1_763_000_000.0),
            ],
            Some("t3_p1"),
            "588",
        ))
        .expect(1)
        .mount(&reddit)
        .await;
    assert_eq!(poll(&app, &search).await, sources::PollReport { stored: 2, error: None });
    let caught_up =
        source::Entity::find_by_id(vigie_tests::db_id(&search)).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(caught_up.cursor.unwrap(), json!({ "since": 1_764_009_000.0 }));

    // A community: its new posts and comments; a top-level comment answers the post's
    // author. A 429 waits for the window's reset.
    let community = app
        .ok(Some(t), create, json!({ "i": { "brandId": brand, "network": "REDDIT", "kind": "COMMUNITY", "target": "r/ZeroWaste", "connectionId": id } }))
        .await["createSource"]
        .clone();
    assert_eq!(community["target"], "zerowaste");
    let community = community["id"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path("/r/zerowaste/new"))
        .respond_with(listing(vec![post("p9", "Leafy_Fan", "Verdure opened a shop", 1_764_000_400.0)], None, "580"))
        .mount(&reddit)
        .await;
    Mock::given(method("GET"))
        .and(path("/r/zerowaste/comments"))
        .respond_with(listing(
            vec![comment("c1", "Other_Fan", "Verdure answered me in a day", "t3_p9", "Leafy_Fan", 1_764_000_500.0)],
            None,
            "579",
        ))
        .up_to_n_times(1)
        .mount(&reddit)
        .await;
    assert_eq!(poll(&app, &community).await, sources::PollReport { stored: 2, error: None });
    let answer = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.external_id == "t1_c1")
        .unwrap();
    assert_eq!(answer.in_reply_to.as_deref(), Some("t3_p9"));
    Mock::given(method("GET"))
        .and(path("/r/zerowaste/comments"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "300"),
        )
        .mount(&reddit)
        .await;
    let limited = poll(&app, &community).await;
    assert!(limited.error.as_deref().is_some_and(|e| e.contains("429")), "{limited:?}");
    let waiting =
        source::Entity::find_by_id(vigie_tests::db_id(&community)).one(&app.services.db).await.unwrap().unwrap();
    assert!(
        waiting.next_poll_at.is_some_and(|at| at > chrono::Utc::now() + chrono::Duration::seconds(250)),
        "{waiting:?}"
    );
}
on_both_databases!(reddit_searches_and_communities_arrive_through_a_connection);

const RESPOND: &str =
    "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status } }";
const TICKET: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status responseChannel replies { status url externalId lastError } } } }";

fn created_comment(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "json": { "errors": [], "data": { "things": [{ "kind": "t1", "data": {
        "id": name.trim_start_matches("t1_"), "name": name, "author": "Verdure_FR", "body": "x", "parent_id": "t1_q1",
        "permalink": format!("/r/zerowaste/comments/p1/slug/{}/", name.trim_start_matches("t1_")), "created_utc": 1_764_000_900.0
    } }] } } }))
}

async fn replies_to_reddit_posts_and_comments_are_published_once(backend: Backend) {
    let reddit = MockServer::start().await;
    let app = app_with_reddit(backend, &reddit).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    connect(&app, &reddit, t, &brand).await;
    let source = app.create_source(Some(t), &brand).await;
    let item = |id: &str, text: &str| {
        let mut m = vigie_tests::new_mention(id, "leafy_fan", text, 500);
        m.network = "reddit".into();
        m.url = Some(format!("https://www.reddit.com/r/zerowaste/comments/p1/slug/{id}/"));
        m.direct = true;
        m
    };
    app.collect(
        &source,
        vec![
            item("t1_q1", "Verdure, where can I buy the refills?"),
            item("t1_q2", "Verdure, my parcel never arrived, can you help?"),
            item("t1_q3", "Verdure, why did you lock my thread?"),
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

    // Reddit rate-limits the account: a passing failure. The next attempt first looks
    // among the account's comments, then posts the form Reddit expects.
    let text = "Hello! Every shop on verdure.example/shops has them.";
    Mock::given(method("POST"))
        .and(path("/api/comment"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({ "json": { "errors": [["RATELIMIT", "you are doing that too much. try again in 5 minutes.", "ratelimit"]] } }),
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&reddit)
        .await;
    Mock::given(method("GET"))
        .and(path("/user/Verdure_FR/comments"))
        .respond_with(listing(vec![], None, "500"))
        .mount(&reddit)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/comment"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("thing_id=t1_q1"))
        .and(body_string_contains("api_type=json"))
        .and(body_string_contains("text=Hello%21+Every+shop"))
        .respond_with(created_comment("t1_r1"))
        .expect(1)
        .mount(&reddit)
        .await;
    app.ok(Some(t), RESPOND, json!({ "id": tickets["t1_q1"], "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let waiting = app.ok(Some(t), TICKET, json!({ "id": tickets["t1_q1"] })).await["node"].clone();
    assert!(waiting["replies"][0]["lastError"].as_str().unwrap().contains("RATELIMIT"), "{waiting}");
    let later = reply::Entity::find_by_id(row.id).one(&app.services.db).await.unwrap().unwrap();
    assert!(later.next_attempt_at.unwrap() > chrono::Utc::now() + chrono::Duration::minutes(5));
    let mut due: reply::ActiveModel = later.into();
    due.next_attempt_at = Set(Some(chrono::Utc::now()));
    due.update(&app.services.db).await.unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": tickets["t1_q1"] })).await["node"].clone();
    assert_eq!(
        (done["status"].clone(), done["responseChannel"].clone()),
        (json!("ANSWERED"), json!("reddit")),
        "{done}"
    );
    assert_eq!(done["replies"][0]["externalId"], "t1_r1");
    assert_eq!(done["replies"][0]["url"], "https://www.reddit.com/r/zerowaste/comments/p1/slug/r1/");

    // An attempt whose worker died after Reddit took the comment: found among the
    // account's comments, not posted again.
    let text = "Sorry about that: a new parcel leaves today.";
    app.ok(Some(t), RESPOND, json!({ "id": tickets["t1_q2"], "text": text })).await;
    let row = reply::Entity::find().all(&app.services.db).await.unwrap().into_iter().find(|r| r.text == text).unwrap();
    let mut crashed: reply::ActiveModel = row.clone().into();
    crashed.attempts = Set(1);
    crashed.next_attempt_at = Set(Some(chrono::Utc::now()));
    crashed.update(&app.services.db).await.unwrap();
    reddit.reset().await;
    Mock::given(method("GET"))
        .and(path("/user/Verdure_FR/comments"))
        .respond_with(listing(
            vec![json!({ "kind": "t1", "data": { "name": "t1_r2", "author": "Verdure_FR", "body": text, "parent_id": "t1_q2",
                         "permalink": "/r/zerowaste/comments/p1/slug/r2/", "created_utc": chrono::Utc::now().timestamp() as f64 } })],
            None,
            "500",
        ))
        .mount(&reddit)
        .await;
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": tickets["t1_q2"] })).await["node"].clone();
    assert_eq!(done["replies"][0]["externalId"], "t1_r2", "{done}");
    assert!(reddit.received_requests().await.unwrap().iter().all(|r| r.url.path() != "/api/comment"));

    // A locked thread: a refusal, said on the ticket, which stays open.
    Mock::given(method("POST"))
        .and(path("/api/comment"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "json": { "errors": [["THREAD_LOCKED", "that thread is locked", "parent"]] } })),
        )
        .mount(&reddit)
        .await;
    app.ok(Some(t), RESPOND, json!({ "id": tickets["t1_q3"], "text": "We did not." })).await;
    let row = reply::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.text == "We did not.")
        .unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let refused = app.ok(Some(t), TICKET, json!({ "id": tickets["t1_q3"] })).await["node"].clone();
    assert_eq!((refused["status"].clone(), refused["replies"][0]["status"].clone()), (json!("OPEN"), json!("FAILED")));
    assert!(refused["replies"][0]["lastError"].as_str().unwrap().contains("THREAD_LOCKED"), "{refused}");
}
on_both_databases!(replies_to_reddit_posts_and_comments_are_published_once);
