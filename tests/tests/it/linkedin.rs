//! LinkedIn organisation pages through 3-legged OAuth 2, against a local server
//! speaking LinkedIn's versioned REST API: the token endpoint (the client's secret in
//! the form, no refresh token outside LinkedIn's partners), `organizationAcls`,
//! `organizations`, `posts?q=author`, `socialActions/{urn}/comments` (Rest.li 2.0 URN
//! encoding, `LinkedIn-Version`), 201 with `x-restli-id`, 429 and expired tokens.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::collections::HashMap;
use vigie_domain::connections::oauth::{self, Callback};
use vigie_domain::entities::{connection, event, mention, reply, source, ticket};
use vigie_domain::{System, sources};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const COMMENT: &str = "urn:li:comment:(urn:li:activity:9001,5001)";
const COMMENT_PATH: &str = "urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%3A9001%2C5001%29";

fn versioned(builder: wiremock::MockBuilder) -> wiremock::MockBuilder {
    builder
        .and(header("linkedin-version", "202510"))
        .and(header("x-restli-protocol-version", "2.0.0"))
        .and(header("authorization", "Bearer li-access"))
}

fn comment(id: &str, actor: &str, text: &str, minutes_ago: i64) -> Value {
    let time = (chrono::Utc::now() - chrono::Duration::minutes(minutes_ago)).timestamp_millis();
    let urn = format!("urn:li:comment:(urn:li:activity:9001,{id})");
    json!({
        "actor": actor, "id": id, "commentUrn": urn, "$URN": urn, "object": "urn:li:activity:9001",
        "created": { "actor": actor, "time": time }, "lastModified": { "actor": actor, "time": time },
        "message": { "text": text, "attributes": [] }
    })
}

async fn linkedin_pages_comments_and_answers(backend: Backend) {
    let li = MockServer::start().await;
    let base = li.uri();
    let app = TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_PUBLIC_URL", "https://vigie.example"),
            ("VIGIE_LINKEDIN_CLIENT_ID", "86li"),
            ("VIGIE_LINKEDIN_CLIENT_SECRET", "li-secret"),
            ("VIGIE_LINKEDIN_AUTH_URL", &format!("{base}/oauth/v2/authorization")),
            ("VIGIE_LINKEDIN_TOKEN_URL", &format!("{base}/oauth/v2/accessToken")),
            ("VIGIE_LINKEDIN_API_URL", &format!("{base}/rest")),
            ("VIGIE_LINKEDIN_REVOKE_URL", &format!("{base}/oauth/v2/revoke")),
        ],
    )
    .await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;

    // The member administers two pages: completing the consent names one.
    let start = "mutation($i: StartOAuthConnectionInput!) { startOAuthConnection(input: $i) { url } }";
    let started = app.ok(Some(t), start, json!({ "i": { "network": "LINKEDIN", "brandId": brand } })).await;
    let url = url::Url::parse(started["startOAuthConnection"]["url"].as_str().unwrap()).unwrap();
    let params: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        params["scope"],
        "r_organization_admin r_organization_social r_organization_social_feed w_organization_social_feed"
    );
    assert_eq!(params["redirect_uri"], "https://vigie.example/oauth/linkedin/callback");
    Mock::given(method("POST"))
        .and(path("/oauth/v2/accessToken"))
        .and(body_string_contains("grant_type=authorization_code"))
        .and(body_string_contains("client_secret=li-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "li-access", "expires_in": 5_184_000,
            "scope": "r_organization_admin,r_organization_social,r_organization_social_feed,w_organization_social_feed"
        })))
        .mount(&li)
        .await;
    versioned(Mock::given(method("GET")).and(path("/rest/organizationAcls")))
        .and(query_param("q", "roleAssignee"))
        .and(query_param("role", "ADMINISTRATOR"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "paging": { "start": 0, "count": 10, "links": [] },
            "elements": [
                { "roleAssignee": "urn:li:person:abc", "role": "ADMINISTRATOR", "state": "APPROVED", "organization": "urn:li:organization:42" },
                { "roleAssignee": "urn:li:person:abc", "role": "ADMINISTRATOR", "state": "APPROVED", "organization": "urn:li:organization:43" }
            ]
        })))
        .mount(&li)
        .await;
    for (id, name) in [("42", "Verdure"), ("43", "Verdure Pro")] {
        versioned(Mock::given(method("GET")).and(path(format!("/rest/organizations/{id}"))))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({ "id": id.parse::<i64>().unwrap(), "localizedName": name, "vanityName": "verdure" }),
            ))
            .mount(&li)
            .await;
    }
    let callback = Callback { code: Some("AQT-code".into()), state: Some(params["state"].clone()), error: None };
    let consented = oauth::callback(&app.services, "linkedin", callback).await.unwrap();
    assert_eq!(consented.choices.len(), 2);
    let complete = "mutation($t: String!, $a: String) { completeOAuthConnection(ticket: $t, account: $a) { id account accountId expiresAt } }";
    assert_error(&app.gql(Some(t), complete, json!({ "t": consented.ticket })).await, "BAD_USER_INPUT");
    let connection =
        app.ok(Some(t), complete, json!({ "t": consented.ticket, "a": "42" })).await["completeOAuthConnection"].clone();
    assert_eq!((connection["account"].clone(), connection["accountId"].clone()), (json!("Verdure"), json!("42")));
    assert!(connection["expiresAt"].is_string(), "sixty days, then a new consent: {connection}");
    let connection_id = connection["id"].as_str().unwrap().to_owned();

    // The source reads the connection's own organisation.
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id target } }";
    let input = |target: &str| json!({ "i": { "brandId": brand, "network": "LINKEDIN", "kind": "ACCOUNT", "target": target, "connectionId": connection_id } });
    assert_error(&app.gql(Some(t), create, input("43")).await, "BAD_USER_INPUT");
    let created = app.ok(Some(t), create, input("urn:li:organization:42")).await["createSource"].clone();
    assert_eq!(created["target"], "42");
    let source_id = created["id"].as_str().unwrap().to_owned();
    let poll = || sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(&source_id));

    // Its latest posts, and their comments: a member's question opens a ticket, the
    // organisation's own answer is not a mention.
    versioned(Mock::given(method("GET")).and(path("/rest/posts")))
        .and(query_param("author", "urn:li:organization:42"))
        .and(query_param("q", "author"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "paging": { "start": 0, "count": 10, "links": [] },
            "elements": [{ "id": "urn:li:share:7001", "author": "urn:li:organization:42", "commentary": "Nouveaux bocaux",
                "createdAt": 1_764_900_000_000i64, "lastModifiedAt": 1_764_900_000_000i64, "lifecycleState": "PUBLISHED" }]
        })))
        .mount(&li)
        .await;
    versioned(Mock::given(method("GET")).and(path("/rest/socialActions/urn%3Ali%3Ashare%3A7001/comments")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "paging": { "start": 0, "count": 50, "links": [], "total": 2 },
            "elements": [
                comment("5002", "urn:li:organization:42", "Merci à tous !", 5),
                comment("5001", "urn:li:person:Xy9", "Livrez-vous les entreprises à Lyon ?", 10)
            ]
        })))
        .up_to_n_times(1)
        .mount(&li)
        .await;
    assert_eq!(poll().await.unwrap(), sources::PollReport { stored: 1, error: None });
    let question = mention::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(question.external_id, COMMENT);
    assert_eq!(
        question.url.as_deref(),
        Some(format!("https://www.linkedin.com/feed/update/urn:li:activity:9001/?commentUrn={COMMENT_PATH}").as_str())
    );
    let ticket = ticket::Entity::find()
        .filter(ticket::Column::MentionId.eq(question.id))
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap();

    // The answer goes under the comment, as the organisation; LinkedIn names it in
    // `x-restli-id`.
    let text = "Oui, partout en France : écrivez-nous en message privé.";
    versioned(Mock::given(method("POST")).and(path(format!("/rest/socialActions/{COMMENT_PATH}/comments"))))
        .and(body_partial_json(json!({
            "actor": "urn:li:organization:42", "object": "urn:li:activity:9001", "parentComment": COMMENT, "message": { "text": text }
        })))
        .respond_with(ResponseTemplate::new(201).insert_header("x-restli-id", "5003"))
        .expect(1)
        .mount(&li)
        .await;
    let respond = "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status } }";
    let ticket_id = vigie_tests::global_id(vigie_tests::NodeKind::Ticket, ticket.id).0;
    assert_error(
        &app.gql(Some(t), respond, json!({ "id": ticket_id, "text": "x".repeat(1_251) })).await,
        "BAD_USER_INPUT",
    );
    app.ok(Some(t), respond, json!({ "id": ticket_id, "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let query =
        "query($id: ID!) { node(id: $id) { ... on Ticket { status responseChannel replies { status externalId } } } }";
    let done = app.ok(Some(t), query, json!({ "id": ticket_id })).await["node"].clone();
    assert_eq!(
        (done["status"].clone(), done["responseChannel"].clone()),
        (json!("ANSWERED"), json!("linkedin")),
        "{done}"
    );
    assert_eq!(done["replies"][0]["externalId"], "urn:li:comment:(urn:li:activity:9001,5003)");
    li.verify().await;

    // A busy post: a full page of new comments, so the next one (`start=50`) is read,
    // down to what was seen.
    let busy: Vec<Value> =
        (0..50).map(|i| comment(&format!("{}", 6100 - i), "urn:li:person:Fan", "Top !", 1)).collect();
    versioned(Mock::given(method("GET")).and(path("/rest/socialActions/urn%3Ali%3Ashare%3A7001/comments")))
        .and(query_param("start", "0"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "paging": { "start": 0, "count": 50, "total": 52 }, "elements": busy })),
        )
        .up_to_n_times(1)
        .mount(&li)
        .await;
    versioned(Mock::given(method("GET")).and(path("/rest/socialActions/urn%3Ali%3Ashare%3A7001/comments")))
        .and(query_param("start", "50"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "paging": { "start": 50, "count": 50, "total": 52 },
            "elements": [comment("6000", "urn:li:person:Fan", "Bravo", 2), comment("5001", "urn:li:person:Xy9", "Livrez-vous les entreprises à Lyon ?", 10)] })))
        .expect(1)
        .mount(&li)
        .await;
    assert_eq!(poll().await.unwrap().error, None);
    assert_eq!(mention::Entity::find().all(&app.services.db).await.unwrap().len(), 52);

    // A 429 (LinkedIn's daily limits say nothing of when): the source waits an hour.
    versioned(Mock::given(method("GET")).and(path("/rest/socialActions/urn%3Ali%3Ashare%3A7001/comments")))
        .respond_with(ResponseTemplate::new(429).set_body_json(
            json!({ "status": 429, "message": "Resource level throttle limit for calls to this resource is reached." }),
        ))
        .up_to_n_times(1)
        .mount(&li)
        .await;
    let limited = poll().await.unwrap();
    assert!(limited.error.as_deref().is_some_and(|e| e.contains("rate limited")), "{limited:?}");
    let waiting =
        source::Entity::find_by_id(vigie_tests::db_id(&source_id)).one(&app.services.db).await.unwrap().unwrap();
    assert!(waiting.next_poll_at.unwrap() > chrono::Utc::now() + chrono::Duration::minutes(55));

    // A 401 that the token, checked on its own, does not confirm (a gateway's) leaves
    // the connection as it is.
    li.reset().await;
    let expired = || {
        ResponseTemplate::new(401).set_body_json(json!({
            "status": 401, "serviceErrorCode": 65602, "code": "EXPIRED_ACCESS_TOKEN", "message": "The token used in the request has expired"
        }))
    };
    versioned(Mock::given(method("GET")).and(path("/rest/posts"))).respond_with(expired()).mount(&li).await;
    versioned(Mock::given(method("GET")).and(path("/rest/organizationAcls")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "elements": [] })))
        .up_to_n_times(1)
        .mount(&li)
        .await;
    let once = poll().await.unwrap();
    assert!(once.error.as_deref().is_some_and(|e| e.contains("refused the token once")), "{once:?}");
    assert!(connection::Entity::find().one(&app.services.db).await.unwrap().unwrap().healthy);

    // The token expired and LinkedIn gave no refresh token: the connection is
    // unhealthy, once, until the manager consents again.
    versioned(Mock::given(method("GET")).and(path("/rest/organizationAcls"))).respond_with(expired()).mount(&li).await;
    let refused = poll().await.unwrap();
    assert!(refused.error.as_deref().is_some_and(|e| e.contains("reconnect")), "{refused:?}");
    assert!(!connection::Entity::find().one(&app.services.db).await.unwrap().unwrap().healthy);
    let events = event::Entity::find()
        .filter(event::Column::Kind.eq("connection.unhealthy"))
        .all(&app.services.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}
on_both_databases!(linkedin_pages_comments_and_answers);
