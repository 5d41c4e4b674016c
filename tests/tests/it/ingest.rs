//! `POST /ingest/mentions` over real HTTP: JSON arrays and NDJSON, per-item validation,
//! idempotent upserts, API key scoping; and the `mentions` query that lists the result.

use serde_json::{Value, json};
use vigie_tests::{Backend, TestApp, on_both_databases};

struct Server {
    base: String,
    app: TestApp,
    stopper: vigie_api::http::Stopper,
}

async fn serve(backend: Backend) -> Server {
    let app = TestApp::new(backend).await;
    let serving = vigie_api::http::serve(app.services.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    tokio::spawn(serving.server);
    Server { base: format!("http://{}", serving.addr), app, stopper: serving.stopper }
}

async fn push(server: &Server, key: Option<&str>, query: &str, body: String) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{}/ingest/mentions{query}", server.base)).body(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn key(server: &Server, token: &str, brand: Option<&str>) -> String {
    let data = server
        .app
        .ok(
            Some(token),
            "mutation($b: ID) { createApiKey(input: { name: \"ingest\", brandId: $b }) { secret } }",
            json!({ "b": brand }),
        )
        .await;
    data["createApiKey"]["secret"].as_str().unwrap().to_owned()
}

fn item(id: &str, handle: &str, text: &str, likes: i64) -> Value {
    json!({
        "externalId": id, "network": "mastodon", "url": format!("https://mastodon.example/@{handle}/{id}"),
        "text": text, "publishedAt": "2026-11-20T09:30:00+01:00", "lang": "fr",
        "author": { "handle": format!("@{handle}"), "displayName": "Camille", "followers": 12_000, "following": 300, "verified": false },
        "metrics": { "likes": likes, "shares": 2, "replies": 1, "views": 0 }
    })
}

const MENTIONS: &str = "query($b: ID!) { mentions(brandId: $b) { edges { node { externalId text relevance lang publishedAt metrics { likes } authorFollowers author { handle followers } } } } }";

async fn pushed_mentions_are_validated_stored_once_and_listed(backend: Backend) {
    let server = serve(backend).await;
    let owner = server.app.sign_up("Agency", "owner@example.com").await;
    let brand = server.app.create_brand(&owner.access_token, "Verdure").await;
    let secret = key(&server, &owner.access_token, Some(&brand)).await;

    let array = json!([
        item("m1", "camille", "J'adore Verdure, zéro déchet !", 5),
        item("m2", "camille", "Rien à voir avec la marque", 0),
        { "externalId": "bad1", "network": "myspace", "text": "x", "publishedAt": "2026-11-20T09:30:00Z", "author": { "handle": "a" } },
        { "externalId": "bad2", "network": "x", "text": "x", "publishedAt": "yesterday", "author": { "handle": "a" } },
    ]);
    let (status, report) = push(&server, Some(&secret), "", array.to_string()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accepted"], 2);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!((rejected[0]["line"].clone(), rejected[0]["externalId"].clone()), (json!(3), json!("bad1")));
    assert!(rejected[0]["reason"].as_str().unwrap().contains("myspace"), "{report}");
    assert!(rejected[1]["reason"].as_str().unwrap().contains("publishedAt"), "{report}");

    // NDJSON, with an update of m1, a broken line and m3 twice; nothing is duplicated.
    let ndjson = format!(
        "{}\n{{not json\n{}\n{}\n",
        item("m1", "camille", "J'adore Verdure, zéro déchet !", 42),
        item("m3", "lou", "@verdure bravo", 1),
        item("m3", "lou", "@verdure bravo", 7)
    );
    let (status, report) = push(&server, Some(&secret), "", ndjson).await;
    assert_eq!(status, 200);
    assert_eq!(report["accepted"], 3);
    assert_eq!(report["rejected"][0]["line"], 2);

    let data = server.app.ok(Some(&owner.access_token), MENTIONS, json!({ "b": brand })).await;
    let nodes: Vec<&Value> = data["mentions"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    assert_eq!(nodes.len(), 3, "{data}");
    let m1 = nodes.iter().find(|n| n["externalId"] == "m1").unwrap();
    assert_eq!(m1["metrics"]["likes"], 42, "re-pushing updates the counters");
    assert_eq!(m1["relevance"], 0.6);
    assert_eq!(m1["publishedAt"], "2026-11-20T08:30:00+00:00");
    // What a tenant claims about an author stays on its mentions: the shared profile
    // (seen by every agency) only takes counts from collectors.
    assert_eq!(m1["authorFollowers"], 12000);
    assert_eq!(m1["author"], json!({ "handle": "camille", "followers": 0 }));
    assert_eq!(nodes.iter().find(|n| n["externalId"] == "m2").unwrap()["relevance"], 0.0);
    let m3 = nodes.iter().find(|n| n["externalId"] == "m3").unwrap();
    assert_eq!(m3["metrics"]["likes"], 7, "the last of a push's items with one external id wins");

    let filtered = server
        .app
        .ok(
            Some(&owner.access_token),
            "query($b: ID!) { mentions(brandId: $b, filter: { network: X }) { edges { node { id } } } }",
            json!({ "b": brand }),
        )
        .await;
    assert_eq!(filtered["mentions"]["edges"], json!([]));
    server.stopper.stop().await;
}
on_both_databases!(pushed_mentions_are_validated_stored_once_and_listed);

async fn keys_only_reach_their_own_brands(backend: Backend) {
    let server = serve(backend).await;
    let a = server.app.sign_up("A", "a@example.com").await;
    let b = server.app.sign_up("B", "b@example.com").await;
    let (a1, a2) =
        (server.app.create_brand(&a.access_token, "A1").await, server.app.create_brand(&a.access_token, "A2").await);
    let b1 = server.app.create_brand(&b.access_token, "B1").await;
    let brand_key = key(&server, &a.access_token, Some(&a1)).await;
    let agency_key = key(&server, &a.access_token, None).await;
    let foreign_key = key(&server, &b.access_token, None).await;
    let body = || json!([item("x1", "spy", "Verdure", 1)]).to_string();

    assert_eq!(push(&server, None, "", body()).await.0, 401);
    assert_eq!(push(&server, Some("vgk_not_a_key"), "", body()).await.0, 401);
    let (status, error) = push(&server, Some(&brand_key), &format!("?brandId={a2}"), body()).await;
    assert_eq!((status, error["error"]["code"].clone()), (403, json!("FORBIDDEN")));
    assert_eq!(push(&server, Some(&agency_key), "", body()).await.0, 400, "an agency key must name the brand");
    assert_eq!(push(&server, Some(&agency_key), &format!("?brandId={b1}"), body()).await.0, 404);
    assert_eq!(push(&server, Some(&foreign_key), &format!("?brandId={a1}"), body()).await.0, 404);
    assert_eq!(push(&server, Some(&agency_key), &format!("?brandId={a2}"), body()).await.0, 200);
    assert_eq!(push(&server, Some(&brand_key), "", "[{\"externalId\":".into()).await.0, 400);
    assert_eq!(push(&server, Some(&brand_key), "", "{\"externalId\": 1}".into()).await.0, 422);

    let count = |brand: String| {
        let app = &server.app;
        let token = if brand == b1 { b.access_token.clone() } else { a.access_token.clone() };
        async move {
            let data = app
                .ok(
                    Some(&token),
                    "query($b: ID!) { mentions(brandId: $b) { edges { node { id } } } }",
                    json!({ "b": brand }),
                )
                .await;
            data["mentions"]["edges"].as_array().unwrap().len()
        }
    };
    assert_eq!((count(a1.clone()).await, count(a2.clone()).await, count(b1.clone()).await), (0, 1, 0));

    // A revoked key stops at once.
    let keys =
        server.app.ok(Some(&a.access_token), "{ apiKeys { edges { node { id brand { id } } } } }", json!({})).await;
    let brand_key_id =
        keys["apiKeys"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["brand"]["id"] == a1.as_str()).unwrap()
            ["node"]["id"]
            .clone();
    server
        .app
        .ok(Some(&a.access_token), "mutation($id: ID!) { revokeApiKey(id: $id) { id } }", json!({ "id": brand_key_id }))
        .await;
    assert_eq!(push(&server, Some(&brand_key), "", body()).await.0, 401);
    server.stopper.stop().await;
}
on_both_databases!(keys_only_reach_their_own_brands);

async fn mentions_page_newest_first(backend: Backend) {
    let server = serve(backend).await;
    let owner = server.app.sign_up("Agency", "owner@example.com").await;
    let brand = server.app.create_brand(&owner.access_token, "Verdure").await;
    let secret = key(&server, &owner.access_token, Some(&brand)).await;
    // Fractions of a second and ties on the publication time, which the cursor must order.
    let times = [
        "2026-11-20T10:00:00Z",
        "2026-11-20T10:00:00.5Z",
        "2026-11-20T10:00:00.25Z",
        "2026-11-19T08:00:00Z",
        "2026-11-19T08:00:00Z",
        "2026-11-21T23:59:59.999999Z",
        "2026-11-19T08:00:00Z",
    ];
    let items: Vec<Value> = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut item = item(&format!("p{i}"), "camille", "Verdure", 0);
            item["publishedAt"] = json!(t);
            item
        })
        .collect();
    let (status, _) = push(&server, Some(&secret), "", Value::Array(items).to_string()).await;
    assert_eq!(status, 200);

    let query = "query($b: ID!, $after: String) { mentions(brandId: $b, first: 2, after: $after) { edges { node { externalId publishedAt } } pageInfo { hasNextPage endCursor } } }";
    let mut after = Value::Null;
    let mut seen: Vec<(String, String)> = Vec::new();
    loop {
        let data = server.app.ok(Some(&owner.access_token), query, json!({ "b": brand, "after": after })).await;
        for edge in data["mentions"]["edges"].as_array().unwrap() {
            seen.push((
                edge["node"]["publishedAt"].as_str().unwrap().to_owned(),
                edge["node"]["externalId"].as_str().unwrap().to_owned(),
            ));
        }
        if !data["mentions"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = data["mentions"]["pageInfo"]["endCursor"].clone();
    }
    let ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(&ids[..4], ["p5", "p1", "p2", "p0"], "newest first: {seen:?}");
    let mut tail: Vec<&str> = ids[4..].to_vec();
    tail.sort();
    assert_eq!(tail, ["p3", "p4", "p6"], "the tied mentions each appear once: {seen:?}");
    server.stopper.stop().await;
}
on_both_databases!(mentions_page_newest_first);

/// Concurrent pushes that share authors, listed in different orders, all succeed: rows
/// are upserted in key order, so PostgreSQL transactions never wait on each other in a
/// cycle (a deadlock the pipeline benchmark found).
async fn concurrent_pushes_sharing_authors_all_succeed(backend: Backend) {
    let server = serve(backend).await;
    let owner = server.app.sign_up("Agency", "owner@example.com").await;
    let brand = server.app.create_brand(&owner.access_token, "Verdure").await;
    let secret = key(&server, &owner.access_token, Some(&brand)).await;
    let pushes = (0..8).map(|push| {
        let mut handles: Vec<usize> = (0..1000).map(|i| i % 300).collect();
        // Each push lists the same authors in its own order.
        handles.rotate_left(push * 37);
        if push % 2 == 1 {
            handles.reverse();
        }
        let items: Vec<Value> = handles
            .iter()
            .enumerate()
            .map(|(i, h)| item(&format!("p{push}-{i}"), &format!("author{h}"), "Verdure encore", 1))
            .collect();
        let body = Value::Array(items).to_string();
        let (server, secret) = (&server, &secret);
        async move { push_status(server, secret, body).await }
    });
    let statuses = futures_util::future::join_all(pushes).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let data = server
        .app
        .ok(
            Some(&owner.access_token),
            "query($b: ID!) { mentions(brandId: $b, first: 100) { edges { node { id } } pageInfo { hasNextPage } } }",
            json!({ "b": brand }),
        )
        .await;
    assert_eq!(data["mentions"]["edges"].as_array().unwrap().len(), 100);
    assert_eq!(data["mentions"]["pageInfo"]["hasNextPage"], true);
    // 1,000 items a push are stored in batches of 512, 256, 128, 64, 32 and 8 rows.
    let db = &server.app.services.db;
    assert_eq!(vigie_tests::count(db, "SELECT COUNT(*) FROM mention").await, 8_000, "every pushed mention, once");
    assert_eq!(vigie_tests::count(db, "SELECT COUNT(*) FROM author").await, 300);
    server.stopper.stop().await;
}
on_both_databases!(concurrent_pushes_sharing_authors_all_succeed);

async fn push_status(server: &Server, key: &str, body: String) -> u16 {
    push(server, Some(key), "", body).await.0
}

/// A brand's handle that nothing hears is flagged: a search or account source naming it
/// hears it (a disabled one does not), and so do mentions of its network pushed in the
/// last week (another tool feeds that network).
async fn handles_nothing_hears_are_flagged_on_the_brand(backend: Backend) {
    let server = serve(backend).await;
    let owner = server.app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let handles = json!([
        { "network": "BLUESKY", "handle": "verdure.bsky.social" },
        { "network": "MASTODON", "handle": "@verdure@mastodon.social" },
        { "network": "X", "handle": "verdure" },
    ]);
    let brand = server
        .app
        .ok(
            Some(t),
            "mutation($i: CreateBrandInput!) { createBrand(input: $i) { id } }",
            json!({ "i": { "name": "Verdure", "timeZone": "Europe/Paris", "trackedKeywords": ["verdure"], "handles": handles } }),
        )
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let unwatched = async || {
        let data = server
            .app
            .ok(
                Some(t),
                "query($b: ID!) { node(id: $b) { ... on Brand { unwatchedHandles { network handle } } } }",
                json!({ "b": brand }),
            )
            .await;
        data["node"]["unwatchedHandles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["handle"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(unwatched().await, ["verdure.bsky.social", "verdure@mastodon.social", "verdure"]);

    let create = "mutation($i: CreateSourceInput!) { createSource(input: $i) { id } }";
    server
        .app
        .ok(Some(t), create, json!({ "i": { "brandId": brand, "network": "BLUESKY", "kind": "SEARCH", "target": "verdure.bsky.social" } }))
        .await;
    server
        .app
        .ok(Some(t), create, json!({ "i": { "brandId": brand, "network": "MASTODON", "kind": "SEARCH", "target": "@verdure@mastodon.social", "enabled": false } }))
        .await;
    let secret = key(&server, t, Some(&brand)).await;
    let mut pushed = item("x-1", "camille", "Verdure, vous livrez en Belgique ?", 3);
    pushed["network"] = json!("x");
    pushed["url"] = json!("https://x.com/camille/status/1");
    let (status, report) = push(&server, Some(&secret), "", json!([pushed]).to_string()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(unwatched().await, ["verdure@mastodon.social"], "the disabled search hears nothing");
}
on_both_databases!(handles_nothing_hears_are_flagged_on_the_brand);

/// Reviews pushed with their stars: one or two stars is a complaint whatever its words
/// (a ticket opens), the stars weigh on sentiment, and reports give the period's mean
/// rating and its spread.
async fn reviews_carry_their_stars_into_tickets_and_reports(backend: Backend) {
    let server = serve(backend).await;
    let owner = server.app.sign_up("Agency", "owner@example.com").await;
    let t = owner.access_token.as_str();
    let brand = server.app.create_brand(t, "Verdure").await;
    let secret = key(&server, t, Some(&brand)).await;
    let review = |id: &str, text: &str, rating: Value| {
        let mut item = item(id, "reviewer", text, 0);
        item["network"] = json!("other");
        item["url"] = json!(format!("https://reviews.example/verdure/{id}"));
        item["publishedAt"] = json!((chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339());
        item["lang"] = json!("en");
        item["rating"] = rating;
        item
    };
    let bad = push(&server, Some(&secret), "", json!([review("r-0", "Meh", json!(6))]).to_string()).await;
    assert!(bad.1.to_string().contains("rating must be 1 to 5"), "{bad:?}");
    let items = json!([
        review("r-1", "The staff were lovely and the shop is beautiful", json!(1)),
        review("r-2", "Good refills, fair prices", json!(4)),
        review("r-3", "Fine.", json!(5)),
        review("r-4", "Fine.", json!(5)),
    ]);
    let (status, report) = push(&server, Some(&secret), "", items.to_string()).await;
    assert_eq!(status, 200, "{report}");

    let mentions = server
        .app
        .ok(Some(t), "query($b: ID!) { mentions(brandId: $b) { edges { node { externalId rating sentiment isSolicitation } } } }", json!({ "b": brand }))
        .await;
    let by_id = |id: &str| {
        mentions["mentions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["node"])
            .find(|n| n["externalId"] == id)
            .unwrap()
            .clone()
    };
    let one_star = by_id("r-1");
    assert_eq!(one_star["rating"], 1);
    assert!(one_star["sentiment"].as_f64().unwrap() <= -0.3, "{one_star}");
    assert_eq!(one_star["isSolicitation"], true, "a one-star review is a complaint to answer");
    assert_eq!(by_id("r-3")["isSolicitation"], false);
    let tickets = server
        .app
        .ok(
            Some(t),
            "query($b: ID!) { tickets(brandId: $b) { edges { node { mention { externalId } } } } }",
            json!({ "b": brand }),
        )
        .await;
    assert_eq!(tickets["tickets"]["edges"], json!([{ "node": { "mention": { "externalId": "r-1" } } }]));

    let now = chrono::Utc::now();
    let share = server
        .app
        .ok(
            Some(t),
            "mutation($i: CreateReportShareInput!) { createReportShare(input: $i) { token } }",
            json!({ "i": { "brandId": brand, "sections": ["mentions"], "from": (now - chrono::Duration::days(7)).to_rfc3339(),
                     "to": (now + chrono::Duration::hours(1)).to_rfc3339(), "expiresAt": (now + chrono::Duration::days(7)).to_rfc3339() } }),
        )
        .await["createReportShare"]["token"]
        .clone();
    let shared = server
        .app
        .ok(
            None,
            "query($t: String!) { sharedReport(token: $t) { ratings { reviews mean byStars } } }",
            json!({ "t": share }),
        )
        .await;
    assert_eq!(shared["sharedReport"]["ratings"], json!({ "reviews": 4, "mean": 3.75, "byStars": [1, 0, 0, 1, 2] }));
    let page =
        reqwest::get(format!("{}/r/{}", server.base, share.as_str().unwrap())).await.unwrap().text().await.unwrap();
    assert!(page.contains("3.8/5") && page.contains("mean rating of 4 reviews"), "the page shows the mean");

    // The reviewer edits the one-star review to five stars: pushed again, it keeps the
    // new stars and reads as praise.
    let edited = json!([review("r-1", "The staff were lovely and the shop is beautiful", json!(5))]);
    assert_eq!(push(&server, Some(&secret), "", edited.to_string()).await.0, 200);
    let again = server
        .app
        .ok(
            Some(t),
            "query($b: ID!) { mentions(brandId: $b) { edges { node { externalId rating sentiment } } } }",
            json!({ "b": brand }),
        )
        .await;
    let r1 = again["mentions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["externalId"] == "r-1")
        .unwrap();
    assert_eq!(r1["rating"], 5);
    assert!(r1["sentiment"].as_f64().unwrap() > 0.3, "{r1}");
}
on_both_databases!(reviews_carry_their_stars_into_tickets_and_reports);
