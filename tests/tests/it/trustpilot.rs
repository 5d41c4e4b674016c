//! Trustpilot reviews through an API-key connection, against a local server speaking
//! Trustpilot's public API (the key in an `apikey` header, `/business-units/find`,
//! review pages with `next-page` links, 401 for a refused key, 429).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use vigie_domain::entities::{connection, event, mention, source, ticket};
use vigie_domain::{System, sources};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONNECT: &str =
    "mutation($i: ConnectApiKeyInput!) { connectApiKey(input: $i) { id network kind account accountId healthy } }";
const UNIT: &str = "5f3a1c2b9d8e7f6a5b4c3d2e";

fn review(id: &str, stars: i64, title: &str, text: &str, created: &str) -> Value {
    json!({
        "links": [{ "href": format!("https://api.trustpilot.com/v1/reviews/{id}"), "method": "GET", "rel": "reviews" }],
        "id": id, "stars": stars, "title": title, "text": text, "language": "fr", "createdAt": created,
        "experiencedAt": created, "updatedAt": null, "isVerified": true, "numberOfLikes": 2, "status": "active",
        "consumer": { "id": format!("c-{id}"), "displayName": "Camille D.", "displayLocation": "Lyon", "numberOfReviews": 4,
                      "links": [] },
        "businessUnit": { "id": UNIT, "identifyingName": "verdure.example", "displayName": "Verdure" },
        "companyReply": null
    })
}

fn reviews(items: Vec<Value>, next: bool) -> ResponseTemplate {
    let links = if next {
        json!([{ "href": "https://api.trustpilot.com/v1/business-units/x/reviews?page=2", "method": "GET", "rel": "next-page" }])
    } else {
        json!([])
    };
    ResponseTemplate::new(200).set_body_json(json!({ "reviews": items, "links": links }))
}

async fn poll(app: &TestApp, source: &str) -> sources::PollReport {
    sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(source)).await.unwrap()
}

async fn trustpilot_reviews_arrive_with_their_stars(backend: Backend) {
    let trustpilot = MockServer::start().await;
    let app = TestApp::with_config(
        backend,
        &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"), ("VIGIE_TRUSTPILOT_API_URL", &format!("{}/v1", trustpilot.uri()))],
    )
    .await;
    let (log, guard) = vigie_tests::logs::capture(tracing::Level::TRACE);
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;

    // A refused key: an input error, nothing kept.
    Mock::given(method("GET"))
        .and(path("/v1/business-units/find"))
        .and(header("apikey", "wrong-key"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "fault": { "faultstring": "Invalid ApiKey" } })))
        .mount(&trustpilot)
        .await;
    let refused = app
        .gql(Some(t), CONNECT, json!({ "i": { "network": "TRUSTPILOT", "brandId": brand, "apiKey": "wrong-key" } }))
        .await;
    assert_error(&refused, "BAD_USER_INPUT");
    assert!(connection::Entity::find().all(&app.services.db).await.unwrap().is_empty());
    // API keys serve Trustpilot only.
    let elsewhere =
        app.gql(Some(t), CONNECT, json!({ "i": { "network": "X", "brandId": brand, "apiKey": "tp-key-8Hq2" } })).await;
    assert_error(&elsewhere, "BAD_USER_INPUT");

    let key = "tp-live-key-5c1e8Hq2";
    Mock::given(method("GET"))
        .and(path("/v1/business-units/find"))
        .and(query_param("name", "trustpilot.com"))
        .and(header("apikey", key))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "id": "46a7e93b000064000500918b", "displayName": "Trustpilot" })),
        )
        .mount(&trustpilot)
        .await;
    let created = app
        .ok(Some(t), CONNECT, json!({ "i": { "network": "TRUSTPILOT", "brandId": brand, "apiKey": key } }))
        .await["connectApiKey"]
        .clone();
    assert_eq!(
        (created["network"].clone(), created["kind"].clone(), created["account"].clone()),
        (json!("trustpilot"), json!("api_key"), json!("API key …8Hq2"))
    );
    let id = created["id"].as_str().unwrap().to_owned();
    let row = connection::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert!(!row.secret.contains(key) && !row.secret.contains("5c1e8"), "a key is readable in the database");

    // A business unit named by its domain: looked up once, kept in the cursor.
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
    let input = |target: &str| json!({ "i": { "brandId": brand, "network": "TRUSTPILOT", "kind": "ACCOUNT", "target": target, "connectionId": id } });
    assert_error(&app.gql(Some(t), create, input("not a domain")).await, "BAD_USER_INPUT");
    let made = app.ok(Some(t), create, input("https://www.trustpilot.com/review/Verdure.example")).await;
    assert_eq!(made["createSource"]["target"], "verdure.example");
    let source = made["createSource"]["id"].as_str().unwrap().to_owned();
    Mock::given(method("GET"))
        .and(path("/v1/business-units/find"))
        .and(query_param("name", "verdure.example"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": UNIT, "displayName": "Verdure" })))
        .expect(1)
        .mount(&trustpilot)
        .await;

    // First poll: one page from now. A one-star review is a complaint whatever its
    // words, addressed to the brand: it opens a ticket.
    Mock::given(method("GET"))
        .and(path(format!("/v1/business-units/{UNIT}/reviews")))
        .and(query_param("orderBy", "createdat.desc"))
        .and(query_param("page", "1"))
        .and(header("apikey", key))
        .respond_with(reviews(
            vec![
                review(
                    "r3",
                    1,
                    "Parfait",
                    "Parfait, vraiment parfait : trois semaines sans colis.",
                    "2026-12-01T10:00:00Z",
                ),
                review("r2", 5, "Je recommande", "Super recharges, rapides.", "2026-11-30T09:00:00Z"),
            ],
            true,
        ))
        .up_to_n_times(1)
        .mount(&trustpilot)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 2, error: None });
    let stored = mention::Entity::find().all(&app.services.db).await.unwrap();
    let low = stored.iter().find(|m| m.external_id == "r3").unwrap();
    assert_eq!(low.rating, Some(1));
    assert_eq!(low.url.as_deref(), Some("https://www.trustpilot.com/reviews/r3"));
    // A title that only repeats the text's start (as Trustpilot makes them) is not doubled.
    assert_eq!(low.text, "Parfait, vraiment parfait : trois semaines sans colis.");
    let four = |m: &&mention::Model| m.external_id == "r2";
    assert_eq!(stored.iter().find(four).unwrap().text, "Je recommande\n\nSuper recharges, rapides.");
    assert!(low.sentiment.is_some_and(|s| s < 0.0), "{low:?}");
    let tickets = ticket::Entity::find().all(&app.services.db).await.unwrap();
    assert!(tickets.iter().any(|t| t.mention_id == low.id), "a one-star review opens a ticket");
    let cursor = source::Entity::find_by_id(vigie_tests::db_id(&source)).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(cursor.cursor.as_ref().unwrap()["unit_id"], UNIT);

    // Second poll: two pages, down to the newest review stored.
    Mock::given(method("GET"))
        .and(path(format!("/v1/business-units/{UNIT}/reviews")))
        .and(query_param("page", "1"))
        .respond_with(reviews(vec![review("r5", 2, "", "Service client muet.", "2026-12-02T08:00:00")], true))
        .up_to_n_times(1)
        .mount(&trustpilot)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/business-units/{UNIT}/reviews")))
        .and(query_param("page", "2"))
        .respond_with(reviews(
            vec![
                review("r4", 4, "Bien", "Bien, un peu cher.", "2026-12-01T12:00:00Z"),
                review(
                    "r3",
                    1,
                    "Parfait",
                    "Parfait, vraiment parfait : trois semaines sans colis.",
                    "2026-12-01T10:00:00Z",
                ),
                // Held for moderation, published late under its first date.
                review("r2b", 2, "Lent", "Livraison lente.", "2026-11-30T20:00:00Z"),
                review("r1", 3, "Bof", "Bof.", "2026-11-01T10:00:00Z"),
            ],
            false,
        ))
        .up_to_n_times(1)
        .mount(&trustpilot)
        .await;
    // The last two days come again (stored once), so that a review published late is
    // read; older ones end the reading.
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 4, error: None });
    assert_eq!(mention::Entity::find().all(&app.services.db).await.unwrap().len(), 5);

    // A 429 waits.
    Mock::given(method("GET"))
        .and(path(format!("/v1/business-units/{UNIT}/reviews")))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "600"))
        .up_to_n_times(1)
        .mount(&trustpilot)
        .await;
    let limited = poll(&app, &source).await;
    assert!(limited.error.as_deref().is_some_and(|e| e.contains("429")), "{limited:?}");

    // A passing 401 (a gateway's) while the key still opens Trustpilot: the poll fails,
    // the connection stays healthy.
    let health = "query($id: ID!) { node(id: $id) { ... on Connection { healthy lastError } } }";
    Mock::given(method("GET"))
        .and(path(format!("/v1/business-units/{UNIT}/reviews")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "fault": { "faultstring": "Invalid ApiKey" } })))
        .mount(&trustpilot)
        .await;
    assert!(poll(&app, &source).await.error.is_some());
    assert_eq!(app.ok(Some(t), health, json!({ "id": id })).await["node"]["healthy"], true);

    // The key is revoked: refused when checked on its own too, the connection turns
    // unhealthy, with one event.
    Mock::given(method("GET"))
        .and(path("/v1/business-units/find"))
        .and(query_param("name", "trustpilot.com"))
        .and(header("apikey", key))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "fault": { "faultstring": "Invalid ApiKey" } })))
        .with_priority(1)
        .mount(&trustpilot)
        .await;
    let revoked = poll(&app, &source).await;
    assert!(revoked.error.is_some(), "{revoked:?}");
    let health = app.ok(Some(t), health, json!({ "id": id })).await["node"].clone();
    assert_eq!(health["healthy"], false, "{health}");
    let events = event::Entity::find()
        .filter(event::Column::Kind.eq("connection.unhealthy"))
        .all(&app.services.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    trustpilot.verify().await;

    // A new key: checked, sealed in place of the old one; the connection is healthy
    // again and its source polls with it.
    let new_key = "tp-live-key-Zz77";
    Mock::given(method("GET"))
        .and(path("/v1/business-units/find"))
        .and(header("apikey", new_key))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not found" })))
        .mount(&trustpilot)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v1/business-units/{UNIT}/reviews")))
        .and(header("apikey", new_key))
        .respond_with(reviews(vec![], false))
        .with_priority(1)
        .mount(&trustpilot)
        .await;
    let reconnect = "mutation($id: ID!, $k: String!) { reconnectApiKey(id: $id, apiKey: $k) { healthy account } }";
    assert_error(&app.gql(Some(t), reconnect, json!({ "id": id, "k": "wrong-key" })).await, "BAD_USER_INPUT");
    let renewed = app.ok(Some(t), reconnect, json!({ "id": id, "k": new_key })).await["reconnectApiKey"].clone();
    assert_eq!(renewed, json!({ "healthy": true, "account": "API key …Zz77" }));
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 0, error: None });

    drop(guard);
    let logged = log.text();
    assert!(!logged.contains(key) && !logged.contains(new_key), "a key reached the logs");
}
on_both_databases!(trustpilot_reviews_arrive_with_their_stars);
