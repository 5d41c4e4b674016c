//! Google Business Profile reviews through OAuth 2 with PKCE, against local servers
//! speaking Google's token endpoint, the Account Management API (`/v1/accounts`) and
//! the My Business API v4 (`…/locations/{l}/reviews` pages chained by `nextPageToken`,
//! `starRating` names, `PUT …/reviews/{r}/reply`).

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::collections::HashMap;
use vigie_domain::connections::oauth::{self, Callback};
use vigie_domain::entities::{mention, reply, ticket};
use vigie_domain::{System, sources};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{body_json, body_string_contains, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LOCATION: &str = "accounts/1123/locations/987";

async fn app_with_google(backend: Backend, google: &MockServer) -> TestApp {
    let base = google.uri();
    TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_PUBLIC_URL", "https://vigie.example"),
            ("VIGIE_GOOGLE_BUSINESS_CLIENT_ID", "gbp-client.apps.googleusercontent.com"),
            ("VIGIE_GOOGLE_BUSINESS_CLIENT_SECRET", "GOCSPX-gbp-secret"),
            ("VIGIE_GOOGLE_BUSINESS_AUTH_URL", &format!("{base}/o/oauth2/v2/auth")),
            ("VIGIE_GOOGLE_BUSINESS_TOKEN_URL", &format!("{base}/token")),
            ("VIGIE_GOOGLE_BUSINESS_API_URL", &base),
            ("VIGIE_GOOGLE_BUSINESS_REVOKE_URL", &format!("{base}/revoke")),
            ("VIGIE_GOOGLE_BUSINESS_ACCOUNTS_URL", &format!("{base}/v1")),
            ("VIGIE_GOOGLE_BUSINESS_INFO_URL", &format!("{base}/info/v1")),
        ],
    )
    .await
}

fn review(id: &str, stars: &str, comment: Option<&str>, reviewer: Value, updated: &str) -> Value {
    let mut r = json!({
        "name": format!("{LOCATION}/reviews/{id}"), "reviewId": id, "reviewer": reviewer, "starRating": stars,
        "createTime": updated, "updateTime": updated
    });
    if let Some(comment) = comment {
        r["comment"] = json!(comment);
    }
    r
}

fn named(name: &str) -> Value {
    json!({ "displayName": name, "profilePhotoUrl": format!("https://lh3.googleusercontent.com/a/{name}"), "isAnonymous": false })
}

fn reviews(items: Vec<Value>, next: Option<&str>) -> ResponseTemplate {
    let mut body = json!({ "reviews": items, "averageRating": 3.4, "totalReviewCount": 57 });
    if let Some(next) = next {
        body["nextPageToken"] = json!(next);
    }
    ResponseTemplate::new(200).set_body_json(body)
}

async fn connect(app: &TestApp, google: &MockServer, token: &str, brand: &str) -> Value {
    let start = "mutation($i: StartOAuthConnectionInput!) { startOAuthConnection(input: $i) { url } }";
    let started = app.ok(Some(token), start, json!({ "i": { "network": "GOOGLE", "brandId": brand } })).await;
    let url = url::Url::parse(started["startOAuthConnection"]["url"].as_str().unwrap()).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(params["scope"], "https://www.googleapis.com/auth/business.manage");
    assert_eq!(params["access_type"], "offline");
    assert_eq!(params["redirect_uri"], "https://vigie.example/oauth/google/callback");
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=authorization_code"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.gbp", "expires_in": 3599, "refresh_token": "1//gbp-refresh",
            "scope": "https://www.googleapis.com/auth/business.manage", "token_type": "Bearer"
        })))
        .mount(google)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/accounts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "accounts": [
            { "name": "accounts/555", "accountName": "Verdure shops", "type": "LOCATION_GROUP", "role": "MANAGER" },
            { "name": "accounts/1123", "accountName": "Camille Martin", "type": "PERSONAL", "role": "PRIMARY_OWNER" }
        ] })))
        .mount(google)
        .await;
    let callback = Callback { code: Some("4/0gbp".into()), state: Some(params["state"].clone()), error: None };
    let consented = oauth::callback(&app.services, "google", callback).await.unwrap();
    let complete = "mutation($t: String!) { completeOAuthConnection(ticket: $t) { id account accountId } }";
    app.ok(Some(token), complete, json!({ "t": consented.ticket })).await["completeOAuthConnection"].clone()
}

async fn google_reviews_arrive_and_are_answered(backend: Backend) {
    let google = MockServer::start().await;
    let app = app_with_google(backend, &google).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let connection = connect(&app, &google, t, &brand).await;
    assert_eq!(
        (connection["account"].clone(), connection["accountId"].clone()),
        (json!("Camille Martin"), json!("accounts/1123")),
        "the personal account names the connection"
    );
    let id = connection["id"].as_str().unwrap().to_owned();

    // The locations of every account the user manages, to choose a source's target:
    // the location group's two pages, and none on the personal account.
    Mock::given(method("GET"))
        .and(path("/info/v1/accounts/555/locations"))
        .and(query_param("readMask", "name,title,storefrontAddress"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "locations": [{ "name": "locations/987", "title": "Verdure Lyon",
                "storefrontAddress": { "regionCode": "FR", "postalCode": "69001", "locality": "Lyon", "addressLines": ["12 rue de la République"] } }],
            "nextPageToken": "loc-2"
        })))
        .mount(&google)
        .await;
    Mock::given(method("GET"))
        .and(path("/info/v1/accounts/555/locations"))
        .and(query_param("pageToken", "loc-2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "locations": [{ "name": "locations/988", "title": "Verdure Nantes" }] })),
        )
        .mount(&google)
        .await;
    Mock::given(method("GET"))
        .and(path("/info/v1/accounts/1123/locations"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&google)
        .await;
    let listed = app
        .ok(
            Some(t),
            "query($id: ID!) { googleLocations(connectionId: $id) { name title address } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        listed["googleLocations"],
        json!([
            { "name": "accounts/555/locations/987", "title": "Verdure Lyon", "address": "12 rue de la République, 69001 Lyon" },
            { "name": "accounts/555/locations/988", "title": "Verdure Nantes", "address": null }
        ])
    );
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
    let input = |target: &str| json!({ "i": { "brandId": brand, "network": "GOOGLE", "kind": "ACCOUNT", "target": target, "connectionId": id } });
    assert_error(&app.gql(Some(t), create, input("accounts/1123/locations/../x")).await, "BAD_USER_INPUT");
    let source = app.ok(Some(t), create, input(LOCATION)).await["createSource"]["id"].as_str().unwrap().to_owned();

    // First poll: one page. A one-star review without a word is kept: a complaint,
    // which opens a ticket; anonymous reviewers share one author.
    Mock::given(method("GET"))
        .and(path(format!("/v4/{LOCATION}/reviews")))
        .and(query_param("orderBy", "updateTime desc"))
        .and(query_param_is_missing("pageToken"))
        .respond_with(reviews(
            vec![
                review(
                    "R2",
                    "ONE",
                    None,
                    json!({ "displayName": "A Google user", "isAnonymous": true }),
                    "2026-12-01T10:00:00Z",
                ),
                review(
                    "R1",
                    "FIVE",
                    Some("Accueil adorable, recharges au top."),
                    named("Lou"),
                    "2026-11-30T10:00:00.123456Z",
                ),
            ],
            Some("page-2"),
        ))
        .up_to_n_times(1)
        .mount(&google)
        .await;
    let poll = || sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(&source));
    assert_eq!(poll().await.unwrap(), sources::PollReport { stored: 2, error: None });
    let stored = mention::Entity::find().all(&app.services.db).await.unwrap();
    let silent = stored.iter().find(|m| m.external_id.ends_with("/R2")).unwrap();
    assert_eq!((silent.rating, silent.text.as_str()), (Some(1), ""));
    let tickets = ticket::Entity::find().all(&app.services.db).await.unwrap();
    let complaint = tickets.iter().find(|t| t.mention_id == silent.id).expect("a one-star review opens a ticket");
    assert_eq!(stored.iter().find(|m| m.external_id.ends_with("/R1")).unwrap().rating, Some(5));

    // Second poll: by last update, two pages down to the newest review stored.
    Mock::given(method("GET"))
        .and(path(format!("/v4/{LOCATION}/reviews")))
        .and(query_param_is_missing("pageToken"))
        .respond_with(reviews(
            vec![review("R4", "TWO", Some("Livraison en retard."), named("Sam"), "2026-12-02T09:00:00Z")],
            Some("p2"),
        ))
        .mount(&google)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/v4/{LOCATION}/reviews")))
        .and(query_param("pageToken", "p2"))
        .respond_with(reviews(
            vec![
                review("R3", "TWO", Some("Service lent."), named("Lou"), "2026-12-01T11:00:00Z"),
                review("R2", "ONE", None, json!({ "isAnonymous": true }), "2026-12-01T10:00:00Z"),
                review("R0", "THREE", Some("Bof."), named("Max"), "2026-11-01T10:00:00Z"),
            ],
            Some("p3"),
        ))
        .mount(&google)
        .await;
    let second = poll().await.unwrap();
    assert!(second.error.is_none(), "{second:?}");
    assert_eq!(mention::Entity::find().all(&app.services.db).await.unwrap().len(), 4);

    // The answer is the review's reply, written with a PUT once the review shows none.
    let text = "Toutes nos excuses : écrivez-nous à bonjour@verdure.example, nous arrangeons cela.";
    Mock::given(method("GET"))
        .and(path(format!("/v4/{LOCATION}/reviews/R2")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": format!("{LOCATION}/reviews/R2"), "starRating": "ONE", "createTime": "2026-12-01T10:00:00Z"
        })))
        .mount(&google)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("/v4/{LOCATION}/reviews/R2/reply")))
        .and(body_json(json!({ "comment": text })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "comment": text, "updateTime": "2026-12-02T10:00:00Z" })),
        )
        .expect(1)
        .mount(&google)
        .await;
    let respond = "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status } }";
    let ticket_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, complaint.id).0;
    app.ok(Some(t), respond, json!({ "id": ticket_id, "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let query =
        "query($id: ID!) { node(id: $id) { ... on Ticket { status responseChannel replies { status externalId } } } }";
    let done = app.ok(Some(t), query, json!({ "id": ticket_id })).await["node"].clone();
    assert_eq!(
        (done["status"].clone(), done["responseChannel"].clone()),
        (json!("ANSWERED"), json!("google")),
        "{done}"
    );
    assert_eq!(done["replies"][0]["externalId"], format!("{LOCATION}/reviews/R2/reply"));
    google.verify().await;

    // A review the brand already answered on Google: its reply is not overwritten.
    let answered = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.external_id.ends_with("/R3"))
        .unwrap();
    Mock::given(method("GET"))
        .and(path(format!("/v4/{LOCATION}/reviews/R3")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": format!("{LOCATION}/reviews/R3"), "starRating": "TWO",
            "reviewReply": { "comment": "Merci Lou !", "updateTime": "2026-12-01T12:00:00Z" }
        })))
        .mount(&google)
        .await;
    let ticket_row = ticket::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.mention_id == answered.id)
        .unwrap();
    let ticket_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, ticket_row.id).0;
    app.ok(Some(t), respond, json!({ "id": ticket_id, "text": "Merci !" })).await;
    let row =
        reply::Entity::find().all(&app.services.db).await.unwrap().into_iter().find(|r| r.text == "Merci !").unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let kept = app.ok(Some(t), query, json!({ "id": ticket_id })).await["node"].clone();
    assert_eq!(kept["replies"][0]["status"], "FAILED", "{kept}");
    assert!(
        google
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() != format!("/v4/{LOCATION}/reviews/R3/reply"))
    );

    // An attempt whose worker died after Google took it: the review carries the reply,
    // nothing is written again.
    let low = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.external_id.ends_with("/R4"))
        .unwrap();
    let second_ticket = ticket::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.mention_id == low.id)
        .unwrap();
    let ticket_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, second_ticket.id).0;
    let text = "Désolés pour ce retard.";
    app.ok(Some(t), respond, json!({ "id": ticket_id, "text": text })).await;
    let row = reply::Entity::find().all(&app.services.db).await.unwrap().into_iter().find(|r| r.text == text).unwrap();
    let mut crashed: reply::ActiveModel = row.clone().into();
    crashed.attempts = Set(1);
    crashed.next_attempt_at = Set(Some(chrono::Utc::now()));
    crashed.update(&app.services.db).await.unwrap();
    google.reset().await;
    Mock::given(method("GET"))
        .and(path(format!("/v4/{LOCATION}/reviews/R4")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "name": format!("{LOCATION}/reviews/R4"), "starRating": "TWO", "comment": "Livraison en retard.",
            "reviewReply": { "comment": text, "updateTime": "2026-12-02T11:00:00Z" }
        })))
        .mount(&google)
        .await;
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), query, json!({ "id": ticket_id })).await["node"].clone();
    assert_eq!(done["status"], "ANSWERED", "{done}");
    assert!(google.received_requests().await.unwrap().iter().all(|r| r.method.as_str() != "PUT"));

    // A review pushed through ingest names any place: not answered from Vigie.
    let ingest = app.create_source(Some(t), &brand).await;
    let mut pushed = vigie_tests::new_mention("accounts/9/locations/8/reviews/X1", "someone", "Nul.", 10);
    pushed.network = "google".into();
    pushed.rating = Some(1);
    app.collect(&ingest, vec![pushed]).await;
    let pushed = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.external_id.ends_with("/X1"))
        .unwrap();
    let pushed_ticket = ticket::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.mention_id == pushed.id)
        .unwrap();
    let pushed_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, pushed_ticket.id).0;
    assert_error(&app.gql(Some(t), respond, json!({ "id": pushed_id, "text": "Désolés." })).await, "BAD_USER_INPUT");
}
on_both_databases!(google_reviews_arrive_and_are_answered);
