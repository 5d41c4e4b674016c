//! Collectors against local HTTP servers speaking the networks' real formats (RSS 2.0,
//! Atom with YouTube's media extensions, Mastodon statuses, Bluesky searchPosts):
//! conditional GETs, pagination, a 429 with Retry-After, 5xx, malformed bodies, an
//! enormous body and a repeated page. Nothing is duplicated, nothing crashes, and the
//! source's health says what happened.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_domain::entities::event;
use vigie_domain::sources;
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn app(backend: Backend) -> TestApp {
    TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await
}

async fn create_source(app: &TestApp, token: &str, input: Value) -> String {
    let data = app
        .ok(
            Some(token),
            "mutation($i: CreateSourceInput!) { createSource(input: $i) { id healthy } }",
            json!({ "i": input }),
        )
        .await;
    data["createSource"]["id"].as_str().unwrap().to_owned()
}

async fn poll(app: &TestApp, source: &str) -> sources::PollReport {
    sources::poll(System::for_tests(), &app.services, vigie_tests::db_id(source)).await.unwrap()
}

async fn health(app: &TestApp, token: &str, brand: &str) -> Value {
    let data = app
        .ok(
            Some(token),
            "query($b: ID!) { sources(brandId: $b) { edges { node { id healthy consecutiveFailures lastError lastSuccessAt nextPollAt } } } }",
            json!({ "b": brand }),
        )
        .await;
    data["sources"]["edges"][0]["node"].clone()
}

async fn mention_count(app: &TestApp, token: &str, brand: &str) -> usize {
    let query = "query($b: ID!, $after: String) { mentions(brandId: $b, first: 100, after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } }";
    let (mut count, mut after) = (0, Value::Null);
    loop {
        let data = app.ok(Some(token), query, json!({ "b": brand, "after": after })).await;
        count += data["mentions"]["edges"].as_array().unwrap().len();
        if data["mentions"]["pageInfo"]["hasNextPage"] != true {
            return count;
        }
        after = data["mentions"]["pageInfo"]["endCursor"].clone();
    }
}

async fn events(app: &TestApp, kind: &str) -> Vec<event::Model> {
    event::Entity::find().filter(event::Column::Kind.eq(kind)).all(&app.services.db).await.unwrap()
}

const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Le blog du zéro déchet</title><link>https://blog.example/</link><description>Zéro déchet au quotidien</description>
  <item><title>Verdure : notre avis</title><link>https://blog.example/verdure-avis</link><guid>https://blog.example/?p=1</guid>
    <pubDate>Fri, 20 Nov 2026 09:00:00 +0100</pubDate><description>&lt;p&gt;Un shampoing solide &lt;b&gt;vraiment&lt;/b&gt; efficace.&lt;/p&gt;</description></item>
  <item><title>Dix gestes simples</title><link>https://blog.example/gestes</link><guid>https://blog.example/?p=2</guid>
    <pubDate>Thu, 19 Nov 2026 09:00:00 +0100</pubDate><description>On parle aussi de Verdure.</description></item>
</channel></rss>"#;

const ATOM: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="https://www.youtube.com/feeds/videos.xml?channel_id=UCabc"/>
 <id>yt:channel:UCabc</id><title>Lou Teste</title>
 <link rel="alternate" href="https://www.youtube.com/channel/UCabc"/>
 <author><name>Lou Teste</name><uri>https://www.youtube.com/channel/UCabc</uri></author>
 <published>2020-01-01T00:00:00+00:00</published>
 <entry>
  <id>yt:video:vid1</id><yt:videoId>vid1</yt:videoId><title>J'ai testé Verdure pendant un mois</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=vid1"/>
  <author><name>Lou Teste</name><uri>https://www.youtube.com/channel/UCabc</uri></author>
  <published>2026-11-18T10:00:00+00:00</published><updated>2026-11-18T12:00:00+00:00</updated>
  <media:group><media:title>J'ai testé Verdure</media:title>
   <media:content url="https://www.youtube.com/v/vid1?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="https://i1.ytimg.com/vi/vid1/hqdefault.jpg" width="480" height="360"/><media:description>Mon avis honnête, pas mauvais du tout.</media:description>
   <media:community><media:starRating count="120" average="5.00" min="1" max="5"/><media:statistics views="4567"/></media:community></media:group>
 </entry>
</feed>"#;

async fn feeds_poll_conditionally_and_report_their_health(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;

    // RSS 2.0 with an ETag; the second poll sends If-None-Match and gets a 304.
    Mock::given(method("GET"))
        .and(path("/rss"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rss"))
        .respond_with(ResponseTemplate::new(200).insert_header("etag", "\"v1\"").set_body_string(RSS))
        .with_priority(2)
        .mount(&server)
        .await;
    let rss = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLOG", "kind": "FEED", "target": format!("{}/rss", server.uri()) }),
    )
    .await;
    assert_eq!(poll(&app, &rss).await, sources::PollReport { stored: 2, error: None });
    assert_eq!(poll(&app, &rss).await, sources::PollReport { stored: 0, error: None }, "304: nothing new");
    assert_eq!(mention_count(&app, t, &brand).await, 2);
    let data = app
        .ok(
            Some(t),
            "query($b: ID!) { mentions(brandId: $b) { edges { node { text url author { handle displayName } } } } }",
            json!({ "b": brand }),
        )
        .await;
    let first = &data["mentions"]["edges"][0]["node"];
    assert_eq!(first["text"], "Verdure : notre avis — Un shampoing solide vraiment efficace.");
    // Served from 127.0.0.1, the feed cannot speak for blog.example: no display name.
    assert_eq!(first["author"], json!({ "handle": "blog.example", "displayName": null }));

    // Malformed XML, then 500s: failures counted, unhealthy after three, one event.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path("/rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<rss><channel><item>"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rss"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(2)
        .mount(&server)
        .await;
    let report = poll(&app, &rss).await;
    assert!(report.error.as_deref().is_some_and(|e| e.contains("not an RSS or Atom feed")), "{report:?}");
    let h = health(&app, t, &brand).await;
    assert_eq!((h["healthy"].clone(), h["consecutiveFailures"].clone()), (json!(true), json!(1)));
    poll(&app, &rss).await;
    let report = poll(&app, &rss).await;
    assert_eq!(report.error.as_deref(), Some("HTTP 500 from the network"));
    let h = health(&app, t, &brand).await;
    assert_eq!((h["healthy"].clone(), h["consecutiveFailures"].clone()), (json!(false), json!(3)), "{h}");
    poll(&app, &rss).await;
    let unhealthy = events(&app, "source.unhealthy").await;
    assert_eq!(unhealthy.len(), 1, "announced once, not at every failure");
    assert_eq!(unhealthy[0].payload["sourceId"], vigie_tests::db_id(&rss).to_string());

    // An enormous body is refused without reading it all; then the feed recovers.
    server.reset().await;
    let huge = format!("<rss><channel>{}</channel></rss>", "<item><title>x</title></item>".repeat(200_000));
    Mock::given(method("GET"))
        .and(path("/rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rss"))
        .respond_with(ResponseTemplate::new(200).set_body_string(RSS))
        .with_priority(2)
        .mount(&server)
        .await;
    let report = poll(&app, &rss).await;
    assert!(report.error.as_deref().is_some_and(|e| e.contains("larger than")), "{report:?}");
    assert_eq!(poll(&app, &rss).await, sources::PollReport { stored: 2, error: None });
    let h = health(&app, t, &brand).await;
    assert_eq!(
        (h["healthy"].clone(), h["consecutiveFailures"].clone(), h["lastError"].clone()),
        (json!(true), json!(0), Value::Null)
    );
    assert_eq!(mention_count(&app, t, &brand).await, 2, "the same items again: no duplicate");

    // An Atom feed from YouTube, with the view count of its media extension.
    Mock::given(method("GET"))
        .and(path("/atom"))
        .respond_with(ResponseTemplate::new(200).set_body_string(ATOM))
        .mount(&server)
        .await;
    let atom = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "YOUTUBE", "kind": "FEED", "target": format!("{}/atom", server.uri()) }),
    )
    .await;
    assert_eq!(poll(&app, &atom).await, sources::PollReport { stored: 1, error: None });
    let data = app
        .ok(Some(t), "query($b: ID!) { mentions(brandId: $b, filter: { network: YOUTUBE }) { edges { node { text metrics { views } author { handle } } } } }", json!({ "b": brand }))
        .await;
    let video = &data["mentions"]["edges"][0]["node"];
    assert_eq!(video["metrics"]["views"], 4567);
    assert_eq!(video["author"]["handle"], "youtube.com/channel/ucabc");
    assert!(video["text"].as_str().unwrap().starts_with("J'ai testé Verdure pendant un mois"));
}
on_both_databases!(feeds_poll_conditionally_and_report_their_health);

fn status(id: u64, text: &str, followers: i64) -> Value {
    json!({
        "id": id.to_string(), "created_at": "2026-11-20T10:00:00.000Z", "in_reply_to_id": null,
        "in_reply_to_account_id": null, "sensitive": false, "spoiler_text": "", "visibility": "public",
        "language": "fr", "uri": format!("https://mastodon.example/users/lou/statuses/{id}"),
        "url": format!("https://mastodon.example/@lou/{id}"), "replies_count": 1, "reblogs_count": 2,
        "favourites_count": 10, "content": format!("<p>{text}</p>"), "reblog": null, "media_attachments": [],
        "mentions": [], "tags": [{ "name": "verdure", "url": "https://mastodon.example/tags/verdure" }], "emojis": [],
        "account": {
            "id": "42", "username": "lou", "acct": "lou", "display_name": "Lou", "locked": false, "bot": false,
            "created_at": "2022-01-01T00:00:00.000Z", "note": "<p>Zéro déchet</p>", "url": "https://mastodon.example/@lou",
            "followers_count": followers, "following_count": 120, "statuses_count": 900
        }
    })
}

async fn mastodon_pages_forward_and_backs_off_on_429(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;
    let tag = "/api/v1/timelines/tag/verdure";
    Mock::given(method("GET"))
        .and(path(tag))
        .and(query_param_is_missing("min_id"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([status(103, "Verdure c'est top", 800), status(102, "Verdure bof", 800)])),
        )
        .mount(&server)
        .await;
    let source = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "#verdure", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 2, error: None });

    // A full page after 103, then a last short page: read in one poll, forward.
    let full: Vec<Value> = (104..144).rev().map(|id| status(id, "Verdure encore", 900)).collect();
    Mock::given(method("GET"))
        .and(path(tag))
        .and(query_param("min_id", "103"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&full))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(tag))
        .and(query_param("min_id", "143"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([status(144, "Verdure, dernier", 950)])))
        .mount(&server)
        .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 41, error: None });
    assert_eq!(mention_count(&app, t, &brand).await, 43);
    // The collector is trusted for the author's profile: the newest count wins.
    let data = app
        .ok(
            Some(t),
            "query($b: ID!) { mentions(brandId: $b, first: 1) { edges { node { author { handle followers } } } } }",
            json!({ "b": brand }),
        )
        .await;
    assert_eq!(data["mentions"]["edges"][0]["node"]["author"], json!({ "handle": "lou@127.0.0.1", "followers": 950 }));

    // A server that ignores min_id and repeats its page: nothing duplicated, no loop.
    Mock::given(method("GET"))
        .and(path(tag))
        .and(query_param("min_id", "144"))
        .respond_with(ResponseTemplate::new(200).set_body_json(&full))
        .mount(&server)
        .await;
    let report = poll(&app, &source).await;
    assert_eq!(report.error, None);
    assert_eq!(mention_count(&app, t, &brand).await, 43);

    // 429 with Retry-After: the next poll waits at least that long.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(tag))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "900"))
        .mount(&server)
        .await;
    let report = poll(&app, &source).await;
    assert_eq!(report.error.as_deref(), Some("rate limited (HTTP 429), retry after 900 s"));
    let h = health(&app, t, &brand).await;
    let next: chrono::DateTime<chrono::Utc> = h["nextPollAt"].as_str().unwrap().parse().unwrap();
    assert!(next >= chrono::Utc::now() + chrono::Duration::seconds(890), "{h}");

    // Malformed JSON is a failure with its reason, not a crash.
    server.reset().await;
    Mock::given(method("GET"))
        .and(path(tag))
        .respond_with(ResponseTemplate::new(200).set_body_string("[{\"id\": "))
        .mount(&server)
        .await;
    let report = poll(&app, &source).await;
    assert!(
        report.error.as_deref().is_some_and(|e| e.starts_with("malformed response: Mastodon statuses")),
        "{report:?}"
    );
    assert_eq!(health(&app, t, &brand).await["consecutiveFailures"], 2);
}
on_both_databases!(mastodon_pages_forward_and_backs_off_on_429);

/// A tenant points a Mastodon source at an instance it runs (here on 127.0.0.2) that
/// describes another instance's account: the profile every tenant sees is not rewritten,
/// the claimed count stays on the attacker's own mentions, and a `javascript:` link is
/// dropped.
async fn an_instance_vouches_only_for_its_own_accounts(backend: Backend) {
    let app = app(backend).await;
    let victim = app.sign_up("Victim", "victim@example.com").await;
    let victim_brand = app.create_brand(&victim.access_token, "Verdure").await;
    let real = MockServer::start().await;
    let tag = "/api/v1/timelines/tag/verdure";
    Mock::given(method("GET"))
        .and(path(tag))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([status(103, "Verdure c'est top", 800)])))
        .mount(&real)
        .await;
    let input = |brand: &str, endpoint: String| json!({ "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "#verdure", "endpoint": endpoint });
    let source = create_source(&app, &victim.access_token, input(&victim_brand, real.uri())).await;
    assert_eq!(poll(&app, &source).await.stored, 1);

    let attacker = app.sign_up("Attacker", "attacker@example.com").await;
    let attacker_brand = app.create_brand(&attacker.access_token, "Verdure").await;
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let fake = MockServer::builder().listener(listener).start().await;
    let mut forged = status(900, "Verdure", 5_000_000);
    forged["uri"] = json!("https://evil.example/statuses/900");
    forged["account"]["acct"] = json!("lou@127.0.0.1");
    forged["account"]["display_name"] = json!("Hacked");
    forged["account"]["url"] = json!("javascript:alert(document.cookie)");
    let mut planted = status(902, "Verdure", 3);
    planted["uri"] = json!("https://evil.example/statuses/902");
    planted["account"]["acct"] = json!("ceo@brand.example");
    planted["account"]["display_name"] = json!("Official CEO");
    planted["account"]["url"] = json!("https://evil.example/phish");
    let mut own = status(901, "Verdure", 7);
    own["uri"] = json!("https://evil.example/statuses/901");
    own["account"]["url"] = json!("javascript:alert(1)");
    Mock::given(method("GET"))
        .and(path(tag))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([forged, own, planted])))
        .mount(&fake)
        .await;
    let source = create_source(&app, &attacker.access_token, input(&attacker_brand, fake.uri())).await;
    assert_eq!(poll(&app, &source).await.stored, 3);

    let query = "query($b: ID!) { mentions(brandId: $b) { edges { node { authorFollowers author { handle displayName profileUrl followers } } } } }";
    let seen = app.ok(Some(&victim.access_token), query, json!({ "b": victim_brand })).await;
    assert_eq!(
        seen["mentions"]["edges"][0]["node"]["author"],
        json!({ "handle": "lou@127.0.0.1", "displayName": "Lou", "profileUrl": "https://mastodon.example/@lou", "followers": 800 })
    );
    let theirs = app.ok(Some(&attacker.access_token), query, json!({ "b": attacker_brand })).await;
    let nodes: Vec<&Value> = theirs["mentions"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    let forged = nodes.iter().find(|n| n["author"]["handle"] == "lou@127.0.0.1").unwrap_or_else(|| panic!("{theirs}"));
    assert_eq!(forged["authorFollowers"], 5_000_000, "the claim stays on the attacker's own mention");
    assert_eq!(forged["author"]["followers"], 800);
    // The instance's own account is its to describe, but never with a script link.
    let own = nodes.iter().find(|n| n["author"]["handle"] == "lou@127.0.0.2").expect("the instance's own account");
    assert_eq!(own["author"]["followers"], 7);
    assert!(own["author"]["profileUrl"].is_null(), "{own}");
    // An account it does not host, seen first through it, gets no profile at all.
    let planted = nodes.iter().find(|n| n["author"]["handle"] == "ceo@brand.example").expect("the planted mention");
    assert_eq!(planted["author"]["displayName"], Value::Null, "{planted}");
    assert_eq!(planted["author"]["profileUrl"], Value::Null, "{planted}");
}
on_both_databases!(an_instance_vouches_only_for_its_own_accounts);

fn post(n: usize) -> Value {
    json!({
        "uri": format!("at://did:plc:abc{n}/app.bsky.feed.post/3k{n}"), "cid": format!("bafy{n}"),
        "author": { "did": format!("did:plc:abc{n}"), "handle": format!("user{n}.bsky.social"), "displayName": format!("User {n}"), "avatar": "https://cdn.bsky.app/x.jpg", "labels": [], "createdAt": "2024-01-01T00:00:00.000Z" },
        "record": { "$type": "app.bsky.feed.post", "text": format!("Verdure post {n}"), "createdAt": "2026-11-20T10:00:00.000Z", "langs": ["fr"] },
        "replyCount": 1, "repostCount": 2, "likeCount": 3, "quoteCount": 1, "indexedAt": format!("2026-11-20T10:{:02}:00.000Z", n % 60), "labels": []
    })
}

async fn bluesky_search_keeps_what_it_read_when_a_later_page_fails(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;
    let search = "/xrpc/app.bsky.feed.searchPosts";
    Mock::given(method("GET"))
        .and(path(search))
        .and(query_param("q", "verdure"))
        .and(query_param_is_missing("since"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "cursor": "c1", "hitsTotal": 2, "posts": [post(1), post(2)] })),
        )
        .mount(&server)
        .await;
    let source = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 2, error: None }, "first poll: one page");

    let page: Vec<Value> = (3..103).map(post).collect();
    Mock::given(method("GET"))
        .and(path(search))
        .and(query_param("since", "2026-11-20T10:02:00.000Z"))
        .and(query_param_is_missing("cursor"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "cursor": "c2", "posts": page })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(search))
        .and(query_param("cursor", "c2"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let report = poll(&app, &source).await;
    assert_eq!(report, sources::PollReport { stored: 100, error: Some("HTTP 502 from the network".into()) });
    assert_eq!(mention_count(&app, t, &brand).await, 102);
    let data = app
        .ok(Some(t), "query($b: ID!) { mentions(brandId: $b, first: 1, filter: { search: \"post 7\" }) { edges { node { url lang metrics { likes shares replies } author { handle followers } } } } }", json!({ "b": brand }))
        .await;
    assert_eq!(
        data["mentions"]["edges"][0]["node"],
        json!({ "url": "https://bsky.app/profile/user7.bsky.social/post/3k7", "lang": "fr", "metrics": { "likes": 3, "shares": 3, "replies": 1 }, "author": { "handle": "user7.bsky.social", "followers": 0 } })
    );
}
on_both_databases!(bluesky_search_keeps_what_it_read_when_a_later_page_fails);

/// Account sources: a Mastodon account's statuses (its id looked up once) read forward
/// with `min_id`; a Bluesky author feed read from the top down to the newest post seen,
/// reposts left out.
async fn accounts_are_followed_on_mastodon_and_bluesky(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/accounts/lookup"))
        .and(query_param("acct", "lou"))
        .respond_with(ResponseTemplate::new(200).set_body_json(status(1, "x", 5)["account"].clone()))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let statuses = "/api/v1/accounts/42/statuses";
    Mock::given(method("GET"))
        .and(path(statuses))
        .and(query_param("exclude_reblogs", "true"))
        .and(query_param_is_missing("min_id"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([status(202, "Verdure, mon avis", 900)])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(statuses))
        .and(query_param("min_id", "202"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([status(203, "Verdure encore", 900)])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(statuses))
        .and(query_param("min_id", "203"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    let mastodon = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "MASTODON", "kind": "ACCOUNT", "target": "@Lou", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &mastodon).await, sources::PollReport { stored: 1, error: None });
    assert_eq!(poll(&app, &mastodon).await, sources::PollReport { stored: 1, error: None });
    assert_eq!(poll(&app, &mastodon).await, sources::PollReport { stored: 0, error: None });
    assert_eq!(mention_count(&app, t, &brand).await, 2);

    let feed = "/xrpc/app.bsky.feed.getAuthorFeed";
    let item = |n: usize| json!({ "post": post(n) });
    let repost = json!({ "post": post(50), "reason": { "$type": "app.bsky.feed.defs#reasonRepost", "indexedAt": "2026-11-20T10:30:00.000Z" } });
    Mock::given(method("GET"))
        .and(path(feed))
        .and(query_param("actor", "verdure.bsky.social"))
        .and(query_param("filter", "posts_no_replies"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "cursor": "c1", "feed": [item(2), repost.clone(), item(1)] })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    let bluesky = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLUESKY", "kind": "ACCOUNT", "target": "Verdure.bsky.social", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &bluesky).await, sources::PollReport { stored: 2, error: None }, "reposts are left out");
    // Later: two new posts on top of the two already seen; the poll stops there.
    Mock::given(method("GET"))
        .and(path(feed))
        .and(query_param("actor", "verdure.bsky.social"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "cursor": "c2", "feed": [item(4), item(3), item(2), repost, item(1)] })),
        )
        .mount(&server)
        .await;
    assert_eq!(poll(&app, &bluesky).await, sources::PollReport { stored: 2, error: None });
    assert_eq!(mention_count(&app, t, &brand).await, 6);
}
on_both_databases!(accounts_are_followed_on_mastodon_and_bluesky);

async fn sources_are_validated(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }";
    for (input, field) in [
        (json!({ "brandId": brand, "network": "BLOG", "kind": "FEED", "target": "not a url" }), "target"),
        (json!({ "brandId": brand, "network": "TIKTOK", "kind": "SEARCH", "target": "verdure" }), "kind"),
        (json!({ "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "two words" }), "target"),
        (
            json!({ "brandId": brand, "network": "BLOG", "kind": "FEED", "target": "https://b.example/f", "pollIntervalSecs": 5 }),
            "pollIntervalSecs",
        ),
        (json!({ "brandId": brand, "network": "OTHER", "kind": "INGEST", "target": "x" }), "kind"),
        (json!({ "brandId": brand, "network": "MASTODON", "kind": "ACCOUNT", "target": "a@b@c" }), "target"),
        (json!({ "brandId": brand, "network": "BLOG", "kind": "ACCOUNT", "target": "someone" }), "kind"),
    ] {
        let response = app.gql(Some(t), create, json!({ "i": input })).await;
        vigie_tests::assert_error(&response, "BAD_USER_INPUT");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
    let id = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLOG", "kind": "FEED", "target": "https://b.example/feed" }),
    )
    .await;
    let updated = app
        .ok(Some(t), "mutation($id: ID!) { updateSource(input: { id: $id, enabled: false, pollIntervalSecs: 3600 }) { enabled pollIntervalSecs target } }", json!({ "id": id }))
        .await;
    assert_eq!(
        updated["updateSource"],
        json!({ "enabled": false, "pollIntervalSecs": 3600, "target": "https://b.example/feed" })
    );
    let deleted =
        app.ok(Some(t), "mutation($id: ID!) { deleteSource(id: $id) { deletedId } }", json!({ "id": id })).await;
    assert_eq!(deleted["deleteSource"]["deletedId"], id.as_str());
    assert_eq!(
        app.ok(Some(t), "query($b: ID!) { sources(brandId: $b) { edges { node { id } } } }", json!({ "b": brand }))
            .await["sources"]["edges"],
        json!([])
    );
}
on_both_databases!(sources_are_validated);

/// Sources are bounded per brand and per agency, and polled no faster than the
/// operator's floor, whatever a source asks.
async fn sources_have_quotas_and_a_minimum_interval(backend: Backend) {
    let app = TestApp::with_config(
        backend,
        &[
            ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
            ("VIGIE_SOURCES_PER_BRAND", "2"),
            ("VIGIE_SOURCES_PER_AGENCY", "3"),
            ("VIGIE_MIN_POLL_INTERVAL_SECS", "600"),
        ],
    )
    .await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let (first, second) = (app.create_brand(t, "First").await, app.create_brand(t, "Second").await);
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/verdure"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    const CREATE: &str = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id pollIntervalSecs } }";
    let input = |brand: &str, extra: Value| {
        let mut input = json!({ "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "#verdure", "endpoint": server.uri() });
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        json!({ "i": input })
    };
    let too_fast = app.gql(Some(t), CREATE, input(&first, json!({ "pollIntervalSecs": 120 }))).await;
    assert_error(&too_fast, "BAD_USER_INPUT");
    let made = app.ok(Some(t), CREATE, input(&first, json!({}))).await;
    assert_eq!(made["createSource"]["pollIntervalSecs"], 600, "the default follows the floor");
    let source = made["createSource"]["id"].as_str().unwrap().to_owned();
    app.ok(Some(t), CREATE, input(&first, json!({ "pollIntervalSecs": 3600, "target": "#two" }))).await;
    let refused = app.gql(Some(t), CREATE, input(&first, json!({ "target": "#three" }))).await;
    assert_error(&refused, "BAD_USER_INPUT");
    assert!(refused.to_string().contains("at most 2 sources"), "{refused}");
    app.ok(Some(t), CREATE, input(&second, json!({}))).await;
    let refused = app.gql(Some(t), CREATE, input(&second, json!({ "target": "#two" }))).await;
    assert!(refused.to_string().contains("an agency has at most 3 sources"), "{refused}");
    // Another agency has its own quota.
    let other = app.sign_up("Other", "other@example.com").await;
    let theirs = app.create_brand(&other.access_token, "Theirs").await;
    app.ok(Some(&other.access_token), CREATE, input(&theirs, json!({}))).await;

    // A source made when the floor was lower polls at the new floor.
    use sea_orm::sea_query::Expr;
    vigie_domain::entities::source::Entity::update_many()
        .col_expr(vigie_domain::entities::source::Column::PollIntervalSecs, Expr::value(60))
        .filter(vigie_domain::entities::source::Column::Id.eq(vigie_tests::db_id(&source)))
        .exec(&app.services.db)
        .await
        .unwrap();
    assert_eq!(poll(&app, &source).await.error, None);
    let row = vigie_domain::entities::source::Entity::find_by_id(vigie_tests::db_id(&source))
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap();
    let next = row.next_poll_at.expect("a next poll");
    assert!(next >= chrono::Utc::now() + chrono::Duration::seconds(590), "polled again at {next}");
    // Switching it off and on, or moving its target, does not poll it sooner.
    let update = "mutation($i: UpdateSourceInput!) { updateSource(input: $i) { nextPollAt } }";
    app.ok(Some(t), update, json!({ "i": { "id": source, "enabled": false } })).await;
    let on = app.ok(Some(t), update, json!({ "i": { "id": source, "enabled": true } })).await;
    let moved = app.ok(Some(t), update, json!({ "i": { "id": source, "target": "#elsewhere" } })).await;
    for answer in [on, moved] {
        let next: chrono::DateTime<chrono::Utc> =
            answer["updateSource"]["nextPollAt"].as_str().unwrap().parse().unwrap();
        assert!(next >= chrono::Utc::now() + chrono::Duration::seconds(590), "an edit polls it at {next}");
    }
}
on_both_databases!(sources_have_quotas_and_a_minimum_interval);

/// A feed as WordPress writes it: HTML entities in a CDATA summary, entities escaped
/// twice in the title, a ligature. The stored text reads as the page does, and search
/// finds `coeur` in `cœur`.
async fn feed_text_is_clean_before_it_is_read(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;
    let rss = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
  <title>Le blog d&#8217;&Eacute;lise</title><link>https://elise.example/</link><description>Beaut&eacute;</description>
  <item><title>Verdure&amp;nbsp;: l&amp;rsquo;avis d&amp;eacute;finitif</title><link>https://elise.example/verdure</link>
    <guid isPermaLink="false">https://elise.example/?p=42</guid><pubDate>Fri, 20 Nov 2026 09:00:00 +0100</pubDate>
    <description><![CDATA[<p>J&rsquo;ai test&eacute; Verdure&hellip; j&rsquo;ai le c&oelig;ur bris&eacute;&nbsp;: le flacon fuit &ndash; d&eacute;&ccedil;ue.</p>]]></description></item>
</channel></rss>"#;
    Mock::given(method("GET"))
        .and(path("/feed"))
        .respond_with(ResponseTemplate::new(200).set_body_string(rss))
        .mount(&server)
        .await;
    let source = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLOG", "kind": "FEED", "target": format!("{}/feed", server.uri()) }),
    )
    .await;
    assert_eq!(poll(&app, &source).await.stored, 1);
    let query =
        "query($b: ID!, $s: String) { mentions(brandId: $b, filter: { search: $s }) { edges { node { text } } } }";
    let all = app.ok(Some(t), query, json!({ "b": brand, "s": null })).await;
    let text = all["mentions"]["edges"][0]["node"]["text"].as_str().unwrap().to_owned();
    assert!(text.contains("Verdure : l’avis définitif"), "{text}");
    assert!(text.contains("J’ai testé Verdure… j’ai le cœur brisé : le flacon fuit – déçue."), "{text}");
    assert!(!text.contains('&'), "an entity was left: {text}");
    let found = app.ok(Some(t), query, json!({ "b": brand, "s": "coeur brise" })).await;
    assert_eq!(found["mentions"]["edges"].as_array().unwrap().len(), 1, "search folds the ligature");
}
on_both_databases!(feed_text_is_clean_before_it_is_read);

/// A reply is addressed to the brand only when it answers one of the brand's own
/// accounts: a question in a thread between strangers, or in an author's own thread,
/// opens no ticket. Mastodon names the parent's author among the status's mentions;
/// Bluesky names it by DID, which the page's authors or `getProfiles` turn into a handle.
async fn replies_open_tickets_only_when_they_answer_the_brand(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let handles = json!([
        { "network": "MASTODON", "handle": "@Verdure@mastodon.example" },
        { "network": "BLUESKY", "handle": "@Verdure.bsky.social" }
    ]);
    let brand = app
        .ok(
            Some(t),
            "mutation($i: CreateBrandInput!) { createBrand(input: $i) { id } }",
            json!({ "i": { "name": "Verdure", "timeZone": "Europe/Paris", "trackedKeywords": ["verdure"], "handles": handles } }),
        )
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let server = MockServer::start().await;

    let reply = |id: u64, text: &str, to: (&str, &str)| {
        let mut s = status(id, text, 50);
        s["in_reply_to_id"] = json!("300");
        s["in_reply_to_account_id"] = json!(to.0);
        if to.0 != "42" {
            s["mentions"] = json!([{ "id": to.0, "username": "x", "acct": to.1, "url": "https://x.example/@x" }]);
        }
        s
    };
    // The brand answering itself in its own thread asks nobody.
    let mut own = reply(304, "Verdure : vous préférez la recharge ou le flacon ?", ("7", "verdure@mastodon.example"));
    own["account"]["id"] = json!("7");
    own["account"]["acct"] = json!("verdure@mastodon.example");
    own["in_reply_to_account_id"] = json!("7");
    own["mentions"] = json!([]);
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/verdure"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            own,
            reply(303, "Verdure, tu l'as trouvé où ?", ("88", "sam@other.example")),
            reply(302, "Verdure : et en Belgique, c'est dispo ?", ("42", "lou")),
            reply(301, "Le shampoing Verdure revient quand ?", ("77", "Verdure@Mastodon.example")),
        ])))
        .mount(&server)
        .await;
    let mastodon = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "#verdure", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &mastodon).await, sources::PollReport { stored: 4, error: None });

    let bluesky_reply = |n: usize, text: &str, parent_did: &str| {
        let mut p = post(n);
        p["record"]["text"] = json!(text);
        p["record"]["reply"] = json!({
            "root": { "uri": format!("at://{parent_did}/app.bsky.feed.post/root"), "cid": "bafyroot" },
            "parent": { "uri": format!("at://{parent_did}/app.bsky.feed.post/parent"), "cid": "bafyparent" }
        });
        p
    };
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "posts": [
            bluesky_reply(11, "Verdure, ça existe en recharge ?", "did:plc:verdure"),
            bluesky_reply(12, "Verdure ? tu en penses quoi ?", "did:plc:abc13"),
            post(13),
        ] })))
        .mount(&server)
        .await;
    // Only the DID no author of the page carries is looked up.
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .and(query_param("actors", "did:plc:verdure"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "profiles": [
            { "did": "did:plc:verdure", "handle": "Verdure.bsky.social", "displayName": "Verdure" }
        ] })))
        .expect(1)
        .mount(&server)
        .await;
    let bluesky = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &bluesky).await, sources::PollReport { stored: 3, error: None });

    // An AppView whose getProfiles fails: the posts are stored all the same, the reply
    // only left unresolved.
    let failing = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "posts": [
            bluesky_reply(21, "Verdure, et les recharges en Suisse ?", "did:plc:verdure"),
        ] })))
        .mount(&failing)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&failing)
        .await;
    let unresolved = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "recharges", "endpoint": failing.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &unresolved).await, sources::PollReport { stored: 1, error: None });

    let data = app
        .ok(
            Some(t),
            "query($b: ID!) { mentions(brandId: $b, first: 20) { edges { node { text isSolicitation inReplyToAuthor } } } }",
            json!({ "b": brand }),
        )
        .await;
    let mut read: Vec<(String, bool, Value)> = data["mentions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let n = &e["node"];
            (n["text"].as_str().unwrap().to_owned(), n["isSolicitation"] == true, n["inReplyToAuthor"].clone())
        })
        .collect();
    read.sort_by(|a, b| a.0.cmp(&b.0));
    let host = server.address().ip().to_string();
    let mut expected = vec![
        ("Le shampoing Verdure revient quand ?".to_owned(), true, json!("verdure@mastodon.example")),
        ("Verdure : et en Belgique, c'est dispo ?".to_owned(), false, json!(format!("lou@{host}"))),
        ("Verdure, tu l'as trouvé où ?".to_owned(), false, json!("sam@other.example")),
        ("Verdure, ça existe en recharge ?".to_owned(), true, json!("verdure.bsky.social")),
        ("Verdure ? tu en penses quoi ?".to_owned(), false, json!("user13.bsky.social")),
        ("Verdure post 13".to_owned(), false, Value::Null),
        ("Verdure : vous préférez la recharge ou le flacon ?".to_owned(), false, json!("verdure@mastodon.example")),
        ("Verdure, et les recharges en Suisse ?".to_owned(), false, Value::Null),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(read, expected);
}
on_both_databases!(replies_open_tickets_only_when_they_answer_the_brand);

/// Bluesky posts carry no follower counts: `getProfiles` gives the page's authors'
/// (and whether Bluesky verified them), so influence ranks them on their reach.
async fn bluesky_authors_come_with_their_follower_counts(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "posts": [post(1), post(2)] })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.actor.getProfiles"))
        .and(query_param("actors", "did:plc:abc1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "profiles": [
            { "did": "did:plc:abc1", "handle": "user1.bsky.social", "displayName": "User 1", "followersCount": 250_000, "followsCount": 310, "postsCount": 4_000,
              "verification": { "verifications": [], "verifiedStatus": "valid", "trustedVerifierStatus": "none" } },
            { "did": "did:plc:abc2", "handle": "user2.bsky.social", "followersCount": 42, "followsCount": -5 }
        ] })))
        .expect(1)
        .mount(&server)
        .await;
    let source = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "endpoint": server.uri() }),
    )
    .await;
    assert_eq!(poll(&app, &source).await, sources::PollReport { stored: 2, error: None });
    let data = app
        .ok(
            Some(t),
            "query($b: ID!) { mentions(brandId: $b) { edges { node { authorFollowers author { handle } } } } }",
            json!({ "b": brand }),
        )
        .await;
    let mut counts: Vec<(String, Value)> = data["mentions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["node"]["author"]["handle"].as_str().unwrap().to_owned(), e["node"]["authorFollowers"].clone()))
        .collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(counts, [("user1.bsky.social".into(), json!(250_000)), ("user2.bsky.social".into(), json!(42))]);
    server.verify().await;
}
on_both_databases!(bluesky_authors_come_with_their_follower_counts);

/// A source shows what the network's rate-limit headers said at its last poll, in the
/// network's own form (Mastodon's reset is a timestamp, Bluesky's a Unix time).
async fn sources_show_the_networks_quota(backend: Backend) {
    let app = app(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = app.create_brand(t, "Verdure").await;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/timelines/tag/verdure"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .insert_header("X-RateLimit-Limit", "300")
                .insert_header("X-RateLimit-Remaining", "287")
                .insert_header("X-RateLimit-Reset", "2027-01-01T00:05:00.000Z"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/xrpc/app.bsky.feed.searchPosts"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "posts": [] }))
                .insert_header("ratelimit-limit", "3000")
                .insert_header("ratelimit-remaining", "2999")
                .insert_header("ratelimit-reset", "1798761600"),
        )
        .mount(&server)
        .await;
    let mastodon = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "verdure", "endpoint": server.uri() }),
    )
    .await;
    let bluesky = create_source(
        &app,
        t,
        json!({ "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure", "endpoint": server.uri() }),
    )
    .await;
    for source in [&mastodon, &bluesky] {
        assert_eq!(poll(&app, source).await, sources::PollReport { stored: 0, error: None });
    }
    let quota = async |id: &str| {
        let data = app
            .ok(
                Some(t),
                "query($id: ID!) { node(id: $id) { ... on Source { quotaRemaining quotaResetsAt } } }",
                json!({ "id": id }),
            )
            .await;
        data["node"].clone()
    };
    assert_eq!(quota(&mastodon).await, json!({ "quotaRemaining": 287, "quotaResetsAt": "2027-01-01T00:05:00+00:00" }));
    assert_eq!(quota(&bluesky).await, json!({ "quotaRemaining": 2999, "quotaResetsAt": "2027-01-01T00:00:00+00:00" }));
}
on_both_databases!(sources_show_the_networks_quota);
