//! Replies on Mastodon through an access token the brand's account made on its
//! instance, against a local server speaking Mastodon's API: `verify_credentials`,
//! `/api/v2/search?resolve=true`, `POST /api/v1/statuses` with `Idempotency-Key`, and
//! the account's statuses.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use vigie_domain::entities::reply;
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const URI: &str = "https://remote.example/users/lou/statuses/1090";
const TICKET: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status responseChannel replies { status url externalId lastError } } } }";
const RESPOND: &str =
    "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status } }";

fn status(id: &str, uri: &str, acct: &str, content: &str, in_reply_to: Option<&str>) -> serde_json::Value {
    json!({
        "id": id, "uri": uri, "url": uri.replace("/users/", "/@").replace("/statuses/", "/"),
        "created_at": chrono::Utc::now().to_rfc3339(), "content": content, "in_reply_to_id": in_reply_to,
        "visibility": "unlisted", "account": { "id": "77", "acct": acct, "url": "https://remote.example/@lou" }
    })
}

async fn mastodon_replies_go_out_as_the_brand(backend: Backend) {
    let instance = MockServer::start().await;
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;

    // The access token is checked on the instance: a refused one keeps nothing.
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .and(header("authorization", "Bearer good-token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({ "id": "12", "acct": "verdure", "username": "verdure" })),
        )
        .mount(&instance)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({ "error": "The access token is invalid" })))
        .mount(&instance)
        .await;
    let connect = "mutation($i: ConnectApiKeyInput!) { connectApiKey(input: $i) { id account accountId kind } }";
    let input = |token: &str| json!({ "i": { "network": "MASTODON", "brandId": brand, "apiKey": token, "endpoint": instance.uri() } });
    assert_error(&app.gql(Some(t), connect, input("stolen")).await, "BAD_USER_INPUT");
    let connection = app.ok(Some(t), connect, input("good-token")).await["connectApiKey"].clone();
    let host = url::Url::parse(&instance.uri()).unwrap().host_str().unwrap().to_owned();
    assert_eq!(connection["account"], format!("verdure@{host}"));
    assert_eq!(connection["accountId"], "12");

    // A question collected from another instance: the brand's instance resolves it,
    // and the reply names its author first, unlisted, under the reply's key.
    let source = app.create_source(Some(t), &brand).await;
    let mut question = vigie_tests::new_mention(URI, "lou@remote.example", "@verdure vous ouvrez dimanche ?", 300);
    question.direct = true;
    app.collect(&source, vec![question]).await;
    let tickets = app
        .ok(Some(t), "query($b: ID!) { tickets(brandId: $b) { edges { node { id } } } }", json!({ "b": brand }))
        .await;
    let ticket = tickets["tickets"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    assert_error(&app.gql(Some(t), RESPOND, json!({ "id": ticket, "text": "x".repeat(437) })).await, "BAD_USER_INPUT");
    Mock::given(method("GET"))
        .and(path("/api/v2/search"))
        .and(query_param("q", URI))
        .and(query_param("resolve", "true"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "accounts": [], "hashtags": [],
            "statuses": [status("1090", URI, "lou@remote.example", "<p>vous ouvrez dimanche ?</p>", None)]
        })))
        .mount(&instance)
        .await;
    let text = "Oui, de 10 h à 18 h !";
    app.ok(Some(t), RESPOND, json!({ "id": ticket, "text": text })).await;
    let row = reply::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    let mine = format!("https://{host}/users/verdure/statuses/2001");
    Mock::given(method("POST"))
        .and(path("/api/v1/statuses"))
        .and(header("idempotency-key", row.id.to_string().as_str()))
        .and(body_partial_json(json!({
            "status": format!("@lou@remote.example {text}"), "in_reply_to_id": "1090", "visibility": "unlisted"
        })))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&instance)
        .await;
    // The first attempt fails with a 500 (after the status was made): the retry finds it
    // among the account's statuses and posts nothing more.
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let waiting = app.ok(Some(t), TICKET, json!({ "id": ticket })).await["node"].clone();
    assert_eq!(waiting["replies"][0]["status"], "PENDING", "{waiting}");
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/12/statuses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            status("2000", &format!("https://{host}/users/verdure/statuses/2000"), "verdure", "<p>Bonjour à tous</p>", None),
            status("2001", &mine, "verdure", "<p><span class=\"h-card\"><a href=\"https://remote.example/@lou\">@<span>lou</span></a></span> Oui, de 10 h à 18 h !</p>", Some("1090"))
        ])))
        .mount(&instance)
        .await;
    let mut due: reply::ActiveModel =
        reply::Entity::find_by_id(row.id).one(&app.services.db).await.unwrap().unwrap().into();
    due.next_attempt_at = Set(Some(chrono::Utc::now()));
    due.update(&app.services.db).await.unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let done = app.ok(Some(t), TICKET, json!({ "id": ticket })).await["node"].clone();
    assert_eq!(
        (done["status"].clone(), done["responseChannel"].clone()),
        (json!("ANSWERED"), json!("mastodon")),
        "{done}"
    );
    assert_eq!(done["replies"][0]["externalId"], mine.as_str());
    let posts =
        instance.received_requests().await.unwrap().iter().filter(|r| r.url.path() == "/api/v1/statuses").count();
    assert_eq!(posts, 1, "posted once");

    // A pushed mention names any URI: a post that is not its author's is not answered.
    let other = "https://remote.example/users/mallory/statuses/3000";
    let mut pushed = vigie_tests::new_mention(other, "eve@remote.example", "@verdure vous êtes là ?", 10);
    pushed.direct = true;
    app.collect(&source, vec![pushed]).await;
    Mock::given(method("GET"))
        .and(path("/api/v2/search"))
        .and(query_param("q", other))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "statuses": [status("3000", other, "mallory@remote.example", "<p>something else</p>", None)]
        })))
        .mount(&instance)
        .await;
    let tickets = app
        .ok(Some(t), "query($b: ID!) { tickets(brandId: $b) { edges { node { id status } } } }", json!({ "b": brand }))
        .await;
    let open =
        tickets["tickets"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["status"] != "ANSWERED").unwrap();
    let other_ticket = open["node"]["id"].as_str().unwrap().to_owned();
    app.ok(Some(t), RESPOND, json!({ "id": other_ticket, "text": "Oui !" })).await;
    let row =
        reply::Entity::find().all(&app.services.db).await.unwrap().into_iter().find(|r| r.text == "Oui !").unwrap();
    vigie_domain::sla::replies::publish(&app.services, row.id).await.unwrap();
    let refused = app.ok(Some(t), TICKET, json!({ "id": other_ticket })).await["node"].clone();
    assert_eq!(refused["replies"][0]["status"], "FAILED", "{refused}");
    assert!(refused["replies"][0]["lastError"].as_str().unwrap().contains("not by the mention's author"), "{refused}");

    // A new token must open the same account.
    instance.reset().await;
    let reconnect = "mutation($id: ID!, $k: String!) { reconnectApiKey(id: $id, apiKey: $k) { healthy account } }";
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/verify_credentials"))
        .and(header("authorization", "Bearer other-account"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": "13", "acct": "someone" })))
        .mount(&instance)
        .await;
    let id = connection["id"].as_str().unwrap();
    assert_error(&app.gql(Some(t), reconnect, json!({ "id": id, "k": "other-account" })).await, "BAD_USER_INPUT");
}
on_both_databases!(mastodon_replies_go_out_as_the_brand);
