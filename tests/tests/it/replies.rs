//! Replies sent from the inbox on Bluesky, against a local PDS speaking
//! `app.bsky.feed.getPosts`, `com.atproto.repo.createRecord` and `getRecord`: the reply
//! names the post and its thread's root, is retried after a passing failure under the
//! same record key (looked up first, so never posted twice), and only its publication
//! answers the ticket. Refusals leave the ticket open and say why; waits grow, follow
//! `Retry-After` and end.

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::time::Duration;
use vigie_domain::entities::reply;
use vigie_tests::{Backend, Login, TestApp, assert_error, eventually, on_both_databases};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CREATE_SESSION: &str = "/xrpc/com.atproto.server.createSession";
const GET_POSTS: &str = "/xrpc/app.bsky.feed.getPosts";
const CREATE_RECORD: &str = "/xrpc/com.atproto.repo.createRecord";
const GET_RECORD: &str = "/xrpc/com.atproto.repo.getRecord";
const PARENT: &str = "at://did:plc:fan1/app.bsky.feed.post/3lparent";
const ROOT: &str = "at://did:plc:verdure/app.bsky.feed.post/3lroot";
const RESPOND: &str = "mutation($id: ID!, $text: String!) { respondToTicket(id: $id, text: $text, send: true) { status firstResponseAt replies { status text attempts } } }";
const TICKET: &str = "query($id: ID!) { node(id: $id) { ... on Ticket { status firstResponseAt responseText responseChannel replies { status text network url externalId attempts lastError publishedAt connectionId } } } }";

fn access_token() -> String {
    use base64::Engine;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = chrono::Utc::now().timestamp() + 7_200;
    format!("{}.{}.c2ln", b64(json!({ "alg": "ES256K" })), b64(json!({ "sub": "did:plc:verdure", "exp": exp })))
}

struct Setup {
    app: TestApp,
    owner: Login,
    pds: MockServer,
    token: String,
    ticket: String,
    connection: String,
}

/// A brand with a Bluesky connection and a ticket on a Bluesky question (a reply, in a
/// thread the brand started).
async fn setup(backend: Backend) -> Setup {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.clone();
    let brand = app.create_brand(&t, "Verdure").await;
    let pds = MockServer::start().await;
    let token = access_token();
    Mock::given(method("POST"))
        .and(path(CREATE_SESSION))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "accessJwt": token, "refreshJwt": "refresh", "handle": "verdure.bsky.social", "did": "did:plc:verdure"
        })))
        .mount(&pds)
        .await;
    let connect = "mutation($i: ConnectBlueskyInput!) { connectBluesky(input: $i) { id } }";
    let input = json!({ "i": { "brandId": brand, "identifier": "verdure.bsky.social", "appPassword": "pw", "endpoint": pds.uri() } });
    let connection = app.ok(Some(&t), connect, input).await["connectBluesky"]["id"].as_str().unwrap().to_owned();
    let source = app.create_source(Some(&t), &brand).await;
    let mut question =
        vigie_tests::new_mention(PARENT, "fan1.bsky.social", "Verdure, where can I buy the refills?", 800);
    question.network = "bluesky".into();
    question.direct = true;
    let mut elsewhere = vigie_tests::new_mention("m-1", "someone", "Verdure, is the shop open on Sunday?", 300);
    elsewhere.direct = true;
    app.collect(&source, vec![question, elsewhere]).await;
    let tickets = app
        .ok(
            Some(&t),
            "query($b: ID!) { tickets(brandId: $b) { edges { node { id network } } } }",
            json!({ "b": brand }),
        )
        .await;
    let ticket = tickets["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["network"] == "bluesky")
        .unwrap_or_else(|| panic!("a ticket on the Bluesky question: {tickets}"))["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Setup { app, owner, pds, token, ticket, connection }
}

fn thread_posts() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({ "posts": [{
        "uri": PARENT, "cid": "bafyparent",
        "author": { "did": "did:plc:fan1", "handle": "fan1.bsky.social" },
        "record": { "$type": "app.bsky.feed.post", "text": "Verdure, where can I buy the refills?", "createdAt": "2026-12-05T10:00:00.000Z",
                    "reply": { "root": { "uri": ROOT, "cid": "bafyroot" }, "parent": { "uri": ROOT, "cid": "bafyroot" } } },
        "indexedAt": "2026-12-05T10:00:01.000Z"
    }] }))
}

async fn ticket(s: &Setup) -> Value {
    s.app.ok(Some(&s.owner.access_token), TICKET, json!({ "id": s.ticket })).await["node"].clone()
}

async fn a_reply_is_published_and_then_answers_the_ticket(backend: Backend) {
    let s = setup(backend).await;
    let bearer = format!("Bearer {}", s.token);
    Mock::given(method("GET"))
        .and(path(GET_POSTS))
        .and(query_param("uris", PARENT))
        .and(header("authorization", bearer.as_str()))
        .respond_with(thread_posts())
        .mount(&s.pds)
        .await;
    // The first publication meets a 502; before saying so, and before the next attempt,
    // Vigie looks its record key up.
    Mock::given(method("POST"))
        .and(path(CREATE_RECORD))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&s.pds)
        .await;
    Mock::given(method("GET"))
        .and(path(GET_RECORD))
        .and(query_param("repo", "did:plc:verdure"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "RecordNotFound", "message": "Could not locate record" })),
        )
        .expect(2)
        .mount(&s.pds)
        .await;
    let asked = s
        .app
        .ok(
            Some(&s.owner.access_token),
            RESPOND,
            json!({ "id": s.ticket, "text": "Hello! Every shop on verdure.example/shops has them." }),
        )
        .await["respondToTicket"]
        .clone();
    assert_eq!(asked["status"], "OPEN", "not answered until published");
    assert_eq!(asked["firstResponseAt"], Value::Null);
    assert_eq!(asked["replies"][0]["status"], "PENDING");

    let row = reply::Entity::find().one(&s.app.services.db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&s.app.services, row.id).await.unwrap();
    let waiting = ticket(&s).await;
    assert_eq!(waiting["replies"][0]["status"], "PENDING");
    assert!(waiting["replies"][0]["lastError"].as_str().unwrap().contains("HTTP 502"), "{waiting}");
    let after = reply::Entity::find_by_id(row.id).one(&s.app.services.db).await.unwrap().unwrap();
    let wait = after.next_attempt_at.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::Duration::seconds(20) && wait <= chrono::Duration::seconds(30), "{wait}");
    // Not due yet: a job run now does nothing.
    vigie_domain::sla::replies::publish(&s.app.services, row.id).await.unwrap();
    assert_eq!(reply::Entity::find_by_id(row.id).one(&s.app.services.db).await.unwrap().unwrap().attempts, 1);

    Mock::given(method("POST"))
        .and(path(CREATE_RECORD))
        .and(header("authorization", bearer.as_str()))
        .and(body_partial_json(json!({
            "repo": "did:plc:verdure",
            "collection": "app.bsky.feed.post",
            "record": { "$type": "app.bsky.feed.post", "text": "Hello! Every shop on verdure.example/shops has them.",
                        "reply": { "root": { "uri": ROOT, "cid": "bafyroot" }, "parent": { "uri": PARENT, "cid": "bafyparent" } } }
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "uri": format!("at://did:plc:verdure/app.bsky.feed.post/{}", row.record_key), "cid": "bafyreply", "validationStatus": "valid"
        })))
        .expect(1)
        .mount(&s.pds)
        .await;
    // Due again: the sweep enqueues it and the job runtime publishes it.
    let mut due: reply::ActiveModel = after.into();
    due.next_attempt_at = Set(Some(chrono::Utc::now()));
    due.update(&s.app.services.db).await.unwrap();
    // Swept before the runtime starts: its own periodic sweep could claim the reply
    // first, and this one would then find nothing due.
    assert_eq!(vigie_domain::sla::replies::sweep(&s.app.services).await.unwrap(), 1);
    let jobs = s.app.start_jobs();
    // The ticket and its replies are two reads: wait until both show the publication.
    let done = eventually("the reply is published", Duration::from_secs(30), async || {
        let t = ticket(&s).await;
        if t["replies"][0]["status"] == "PUBLISHED" && t["status"] == "ANSWERED" { Ok(t) } else { Err(t.to_string()) }
    })
    .await;
    jobs.stop().await;
    let reply = &done["replies"][0];
    assert_eq!(reply["url"], format!("https://bsky.app/profile/verdure.bsky.social/post/{}", row.record_key));
    assert_eq!(reply["externalId"], format!("at://did:plc:verdure/app.bsky.feed.post/{}", row.record_key));
    assert_eq!((reply["attempts"].clone(), reply["lastError"].clone()), (json!(2), Value::Null));
    assert_eq!(reply["connectionId"], json!(s.connection));
    assert_eq!(done["responseChannel"], "bluesky");
    assert_eq!(done["responseText"], "Hello! Every shop on verdure.example/shops has them.");
    assert!(done["firstResponseAt"].as_str().unwrap() >= reply["publishedAt"].as_str().unwrap().get(..19).unwrap());
    // Both attempts used the record key chosen once.
    let keys: Vec<Value> = s
        .pds
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == CREATE_RECORD)
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["rkey"].clone())
        .collect();
    assert_eq!(keys, [json!(row.record_key), json!(row.record_key)]);
    s.pds.verify().await;
}
on_both_databases!(a_reply_is_published_and_then_answers_the_ticket);

async fn refused_replies_leave_the_ticket_open_and_say_why(backend: Backend) {
    let s = setup(backend).await;
    let t = Some(s.owner.access_token.as_str());
    // What cannot be sent is refused at once.
    let long = "x".repeat(301);
    assert_error(&s.app.gql(t, RESPOND, json!({ "id": s.ticket, "text": long })).await, "BAD_USER_INPUT");
    let tickets = s.app.ok(t, "{ brands { edges { node { id } } } }", json!({})).await;
    let brand = tickets["brands"]["edges"][0]["node"]["id"].clone();
    let all = s
        .app
        .ok(t, "query($b: ID!) { tickets(brandId: $b) { edges { node { id network } } } }", json!({ "b": brand }))
        .await;
    let mastodon = all["tickets"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["network"] == "mastodon")
        .unwrap()["node"]["id"]
        .clone();
    let refused = s.app.gql(t, RESPOND, json!({ "id": mastodon, "text": "Yes, 10 to 6" })).await;
    assert_error(&refused, "BAD_USER_INPUT");
    // No Mastodon account is connected for the brand.
    assert!(refused.to_string().contains("Mastodon"), "{refused}");
    let viewer = s
        .app
        .invite_and_accept(&s.owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[brand.as_str().unwrap()])
        .await;
    assert_error(
        &s.app.gql(Some(&viewer.access_token), RESPOND, json!({ "id": s.ticket, "text": "hi" })).await,
        "FORBIDDEN",
    );

    // One reply at a time.
    s.app.ok(t, RESPOND, json!({ "id": s.ticket, "text": "Let me check" })).await;
    assert_error(&s.app.gql(t, RESPOND, json!({ "id": s.ticket, "text": "Again" })).await, "CONFLICT");

    // The post was deleted: Bluesky does not find it; the reply fails for good.
    Mock::given(method("GET"))
        .and(path(GET_POSTS))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "posts": [] })))
        .mount(&s.pds)
        .await;
    Mock::given(method("POST"))
        .and(path(CREATE_RECORD))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&s.pds)
        .await;
    let jobs = s.app.start_jobs();
    let done = eventually("the reply fails", Duration::from_secs(30), async || {
        let t = ticket(&s).await;
        if t["replies"][0]["status"] == "FAILED" { Ok(t) } else { Err(t.to_string()) }
    })
    .await;
    jobs.stop().await;
    assert!(done["replies"][0]["lastError"].as_str().unwrap().contains("no longer exists"), "{done}");
    assert_eq!((done["status"].clone(), done["firstResponseAt"].clone()), (json!("OPEN"), Value::Null));

    // A reply speaks as the brand: an agency-wide connection (maybe another brand's
    // account) does not answer for it.
    s.app.ok(t, "mutation($id: ID!) { deleteConnection(id: $id) { deletedId } }", json!({ "id": s.connection })).await;
    let connect = "mutation($i: ConnectBlueskyInput!) { connectBluesky(input: $i) { id } }";
    let agency_wide =
        json!({ "i": { "identifier": "agency.bsky.social", "appPassword": "pw", "endpoint": s.pds.uri() } });
    s.app.ok(t, connect, agency_wide).await;
    let none = s.app.gql(t, RESPOND, json!({ "id": s.ticket, "text": "Hello" })).await;
    assert_error(&none, "BAD_USER_INPUT");
    assert!(none.to_string().contains("no healthy Bluesky connection of its own"), "{none}");
    s.pds.verify().await;
}
on_both_databases!(refused_replies_leave_the_ticket_open_and_say_why);

/// A worker that died after Bluesky took the post, before Vigie recorded it: the next
/// attempt (or, once the attempts are spent, a last look) finds the post under the
/// reply's record key and records it, without posting again.
async fn a_retry_after_a_crash_does_not_post_twice(backend: Backend) {
    for spent in [1, 8] {
        let s = setup(backend).await;
        s.app.ok(Some(&s.owner.access_token), RESPOND, json!({ "id": s.ticket, "text": "On its way" })).await;
        let row = reply::Entity::find().one(&s.app.services.db).await.unwrap().unwrap();
        let mut crashed: reply::ActiveModel = row.clone().into();
        crashed.attempts = Set(spent);
        crashed.update(&s.app.services.db).await.unwrap();
        Mock::given(method("GET"))
            .and(path(GET_RECORD))
            .and(query_param("rkey", row.record_key.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "uri": format!("at://did:plc:verdure/app.bsky.feed.post/{}", row.record_key), "cid": "bafyreply",
                "value": { "$type": "app.bsky.feed.post", "text": "On its way" }
            })))
            .expect(1)
            .mount(&s.pds)
            .await;
        Mock::given(method("POST"))
            .and(path(CREATE_RECORD))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&s.pds)
            .await;
        vigie_domain::sla::replies::publish(&s.app.services, row.id).await.unwrap();
        let done = ticket(&s).await;
        assert_eq!(done["replies"][0]["status"], "PUBLISHED", "after {spent} attempts");
        assert_eq!(done["status"], "ANSWERED");
        s.pds.verify().await;
    }
}
on_both_databases!(a_retry_after_a_crash_does_not_post_twice);

/// The brand's library of frequent answers: per language, checked when saved, filled in
/// for a ticket with its author, the brand and the agent.
async fn reply_templates_are_filled_in_for_a_ticket(backend: Backend) {
    let s = setup(backend).await;
    let t = Some(s.owner.access_token.as_str());
    let brands = s.app.ok(t, "{ brands { edges { node { id } } } }", json!({})).await;
    let brand = brands["brands"]["edges"][0]["node"]["id"].clone();
    let create = "mutation($i: CreateReplyTemplateInput!) { createReplyTemplate(input: $i) { id language } }";
    let french = s
        .app
        .ok(t, create, json!({ "i": { "brandId": brand, "name": "Où acheter", "language": "FR", "body": "Bonjour {{author}} ! Les recharges {{ brand }} sont en magasin. {{agent}}" } }))
        .await["createReplyTemplate"]
        .clone();
    assert_eq!(french["language"], "fr");
    s.app
        .ok(t, create, json!({ "i": { "brandId": brand, "name": "Where to buy", "language": "en", "body": "Hi {{author}}, every shop has {{brand}} refills." } }))
        .await;
    let typo = s
        .app
        .gql(t, create, json!({ "i": { "brandId": brand, "name": "Typo", "language": "en", "body": "Hi {{name}}" } }))
        .await;
    assert_error(&typo, "BAD_USER_INPUT");
    assert!(typo.to_string().contains("unknown variable"), "{typo}");
    let list = "query($b: ID!, $l: String) { replyTemplates(brandId: $b, language: $l) { edges { node { name } } } }";
    let fr = s.app.ok(t, list, json!({ "b": brand, "l": "fr" })).await;
    assert_eq!(fr["replyTemplates"]["edges"], json!([{ "node": { "name": "Où acheter" } }]));
    assert_eq!(s.app.ok(t, list, json!({ "b": brand })).await["replyTemplates"]["edges"].as_array().unwrap().len(), 2);

    let render = "query($id: ID!, $t: ID!) { renderReplyTemplate(id: $id, ticketId: $t) }";
    let text = s.app.ok(t, render, json!({ "id": french["id"], "t": s.ticket })).await["renderReplyTemplate"].clone();
    assert_eq!(text, "Bonjour @fan1.bsky.social ! Les recharges Verdure sont en magasin. Owner");

    let update = "mutation($id: ID!, $b: String) { updateReplyTemplate(input: { id: $id, body: $b }) { body } }";
    assert_error(&s.app.gql(t, update, json!({ "id": french["id"], "b": "{{author" })).await, "BAD_USER_INPUT");
    s.app.ok(t, update, json!({ "id": french["id"], "b": "Merci {{author}} !" })).await;
    let text = s.app.ok(t, render, json!({ "id": french["id"], "t": s.ticket })).await["renderReplyTemplate"].clone();
    assert_eq!(text, "Merci @fan1.bsky.social !");

    // Another brand's ticket does not take this brand's template.
    let other = s.app.create_brand(&s.owner.access_token, "Canopée").await;
    let theirs = s
        .app
        .ok(t, create, json!({ "i": { "brandId": other, "name": "Autre", "language": "fr", "body": "Bonjour" } }))
        .await["createReplyTemplate"]["id"]
        .clone();
    assert_error(&s.app.gql(t, render, json!({ "id": theirs, "t": s.ticket })).await, "BAD_USER_INPUT");
    s.app.ok(t, "mutation($id: ID!) { deleteReplyTemplate(id: $id) { deletedId } }", json!({ "id": theirs })).await;
}
on_both_databases!(reply_templates_are_filled_in_for_a_ticket);

/// Passing failures wait longer each time, as long as Bluesky's `Retry-After` asks, and
/// end; a reply whose ticket was closed, or whose author left the brand, is not sent.
async fn replies_wait_give_up_and_check_before_sending(backend: Backend) {
    let s = setup(backend).await;
    let db = &s.app.services.db;
    let t = Some(s.owner.access_token.as_str());
    Mock::given(method("GET"))
        .and(path(GET_POSTS))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "900"))
        .mount(&s.pds)
        .await;
    Mock::given(method("GET"))
        .and(path(GET_RECORD))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({ "error": "RecordNotFound", "message": "Could not locate record" })),
        )
        .mount(&s.pds)
        .await;
    s.app.ok(t, RESPOND, json!({ "id": s.ticket, "text": "On it" })).await;
    let row = reply::Entity::find().one(db).await.unwrap().unwrap();
    vigie_domain::sla::replies::publish(&s.app.services, row.id).await.unwrap();
    let after = reply::Entity::find_by_id(row.id).one(db).await.unwrap().unwrap();
    let wait = after.next_attempt_at.unwrap() - chrono::Utc::now();
    assert!(wait > chrono::Duration::seconds(890), "Retry-After is honoured: {wait}");
    assert!(after.last_error.as_deref().is_some_and(|e| e.contains("rate-limited")), "{after:?}");

    // The last attempt fails for good.
    let mut last: reply::ActiveModel = after.into();
    last.attempts = Set(7);
    last.next_attempt_at = Set(Some(chrono::Utc::now()));
    last.update(db).await.unwrap();
    vigie_domain::sla::replies::publish(&s.app.services, row.id).await.unwrap();
    let given_up = ticket(&s).await;
    assert_eq!(given_up["replies"][0]["status"], "FAILED");
    assert!(given_up["replies"][0]["lastError"].as_str().unwrap().contains("gave up after 8 attempts"), "{given_up}");
    assert_eq!(given_up["status"], "OPEN");

    // A ticket closed meanwhile takes no reply.
    s.app.ok(t, RESPOND, json!({ "id": s.ticket, "text": "Second try" })).await;
    s.app.ok(t, "mutation($id: ID!) { closeTicket(id: $id) { status } }", json!({ "id": s.ticket })).await;
    let second = reply::Entity::find().all(db).await.unwrap().into_iter().find(|r| r.status == "pending").unwrap();
    vigie_domain::sla::replies::publish(&s.app.services, second.id).await.unwrap();
    let closed = reply::Entity::find_by_id(second.id).one(db).await.unwrap().unwrap();
    assert_eq!(closed.status, "failed");
    assert!(closed.last_error.unwrap().contains("closed"));

    // A member who left the brand does not speak for it any more.
    s.app.ok(t, "mutation($id: ID!) { reopenTicket(id: $id) { status } }", json!({ "id": s.ticket })).await;
    let brands = s.app.ok(t, "{ brands { edges { node { id } } } }", json!({})).await;
    let brand = brands["brands"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let member = s.app.invite_and_accept(&s.owner.access_token, "member@example.com", "MEMBER", &[&brand]).await;
    s.app.ok(Some(&member.access_token), RESPOND, json!({ "id": s.ticket, "text": "From the member" })).await;
    let member_id =
        s.app.ok(Some(&member.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    s.app.ok(t, "mutation($id: ID!) { removeMember(memberId: $id) { __typename } }", json!({ "id": member_id })).await;
    let third = reply::Entity::find().all(db).await.unwrap().into_iter().find(|r| r.status == "pending").unwrap();
    vigie_domain::sla::replies::publish(&s.app.services, third.id).await.unwrap();
    let orphan = reply::Entity::find_by_id(third.id).one(db).await.unwrap().unwrap();
    assert_eq!(orphan.status, "failed");
    assert!(orphan.last_error.unwrap().contains("no longer works on the brand"));
}
on_both_databases!(replies_wait_give_up_and_check_before_sending);

/// Two agents sending at the same moment make one reply: the second meets the check or,
/// racing past it, the unique index, and is told so.
async fn two_sends_at_once_make_one_reply(backend: Backend) {
    let s = setup(backend).await;
    let t = Some(s.owner.access_token.as_str());
    let send = |text: &'static str| s.app.gql(t, RESPOND, json!({ "id": s.ticket, "text": text }));
    let (one, two) = tokio::join!(send("First"), send("Second"));
    let mut codes: Vec<Vec<String>> = [&one, &two].iter().map(|r| vigie_tests::error_codes(r)).collect();
    codes.sort();
    assert_eq!(codes, [vec![], vec!["CONFLICT".to_owned()]], "{one} {two}");
    assert_eq!(reply::Entity::find().all(&s.app.services.db).await.unwrap().len(), 1);
}
on_both_databases!(two_sends_at_once_make_one_reply);

/// A reply whose attempts are spent and whose connection is gone ends failed, with the
/// reason, instead of being looked for again and again.
async fn a_spent_reply_without_its_connection_fails(backend: Backend) {
    let s = setup(backend).await;
    let t = Some(s.owner.access_token.as_str());
    s.app.ok(t, RESPOND, json!({ "id": s.ticket, "text": "On its way" })).await;
    let row = reply::Entity::find().one(&s.app.services.db).await.unwrap().unwrap();
    let mut spent: reply::ActiveModel = row.clone().into();
    spent.attempts = Set(8);
    spent.update(&s.app.services.db).await.unwrap();
    s.app.ok(t, "mutation($id: ID!) { deleteConnection(id: $id) { deletedId } }", json!({ "id": s.connection })).await;
    vigie_domain::sla::replies::publish(&s.app.services, row.id).await.unwrap();
    let done = reply::Entity::find_by_id(row.id).one(&s.app.services.db).await.unwrap().unwrap();
    assert_eq!(done.status, "failed");
    assert!(done.last_error.unwrap().contains("connection was deleted"));
}
on_both_databases!(a_spent_reply_without_its_connection_fails);
