//! The real HTTP server: GraphiQL, GraphQL over HTTP, health, readiness (with real
//! Redis), metrics.

use serde_json::{Value, json};
use vigie_tests::redis_server::RedisServer;
use vigie_tests::ws::Subscription;
use vigie_tests::{
    Backend, agency_with_brand, eventually, ingest_over_http, on_both_databases, post_graphql, redis_url, serve, until,
    value_gap_item,
};

async fn endpoints(backend: Backend) {
    let redis = redis_url();
    let server = serve(backend, &[("REDIS_URL", &redis)]).await;
    let client = reqwest::Client::new();

    let health = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let receiver = client.post(format!("{}/demo/webhooks", server.base)).body("{}").send().await.unwrap();
    assert_eq!(receiver.status(), 404, "the demo's receiver exists in demo mode only");

    let ready = client.get(format!("{}/readyz", server.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body, json!({ "database": "ok", "queue": "ok", "ready": true }));

    // GraphiQL and introspection: on with the embedded SQLite, off by default with
    // PostgreSQL, where production runs.
    let graphiql = client.get(format!("{}/graphql", server.base)).send().await.unwrap();
    let introspection = post_graphql(&server.base, None, "{ __schema { queryType { name } } }").await;
    if backend == Backend::Sqlite {
        assert_eq!(graphiql.status(), 200);
        assert!(graphiql.text().await.unwrap().to_lowercase().contains("graphiql"));
        assert_eq!(introspection["data"]["__schema"]["queryType"]["name"], "Query", "{introspection}");
    } else {
        assert_eq!(graphiql.status(), 404);
        assert!(introspection["data"].is_null(), "{introspection}");
        assert_eq!(introspection["errors"][0]["extensions"]["code"], "FORBIDDEN", "{introspection}");
        assert_eq!(post_graphql(&server.base, None, "{ __typename }").await["data"]["__typename"], "Query");
        // Nor do validation errors spell the schema out.
        let typo = post_graphql(&server.base, None, "{ brandz { id } }").await;
        assert!(!typo.to_string().contains("Did you mean"), "{typo}");
    }

    let signup = "mutation { signUp(input: { agencyName: \"H\", name: \"N\", email: \"h@example.com\", password: \"correct horse battery\" }) { accessToken } }";
    let response = post_graphql(&server.base, None, signup).await;
    let token = response["data"]["signUp"]["accessToken"].as_str().unwrap().to_owned();
    let me = post_graphql(&server.base, Some(&token), "{ me { role } }").await;
    assert_eq!(me["data"]["me"]["role"], "OWNER");

    let forged = post_graphql(&server.base, Some("forged.token.value"), "{ me { role } }").await;
    assert_eq!(forged["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let malformed = client
        .post(format!("{}/graphql", server.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(malformed.status().is_client_error(), "malformed JSON is a 4xx, got {}", malformed.status());

    let metrics = client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("vigie_http_requests_total{method=\"POST\",route=\"/graphql\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("vigie_graphql_errors_total{code=\"UNAUTHENTICATED\"} 1"), "{metrics}");
    server.stop().await;
}
on_both_databases!(endpoints);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_a_listener_of_their_own() {
    let server = serve(Backend::Sqlite, &[("VIGIE_METRICS_BIND", "127.0.0.1:0")]).await;
    let metrics_base = server.api.metrics_base.clone().expect("a metrics listener");
    assert_ne!(metrics_base, server.base);
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("{}/healthz", server.base)).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("{}/metrics", server.base)).send().await.unwrap().status(), 404);
    let metrics = client.get(format!("{metrics_base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("vigie_http_requests_total{method=\"GET\",route=\"/healthz\""));
    let build = format!("vigie_build_info{{version=\"{}\",process=\"api\"}} 1", env!("CARGO_PKG_VERSION"));
    assert!(text.contains(&build), "{text}");
    let pool = |state: &str| {
        let prefix = format!("vigie_db_pool_connections{{state=\"{state}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| n.parse::<i64>().ok())
    };
    assert!(pool("idle").is_some_and(|n| n >= 0) && pool("busy").is_some_and(|n| n >= 0), "{text}");
    // The metrics listener serves nothing else.
    for path in ["/graphql", "/healthz", "/readyz"] {
        assert_eq!(client.get(format!("{metrics_base}{path}")).send().await.unwrap().status(), 404, "{path}");
    }
    let posted = client.post(format!("{metrics_base}/graphql")).json(&json!({ "query": "{ __typename }" })).send();
    assert_eq!(posted.await.unwrap().status(), 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_going_down_and_coming_back() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    let server = serve(Backend::Sqlite, &[("REDIS_URL", &url)]).await;
    let readyz = format!("{}/readyz", server.base);
    assert_eq!(reqwest::get(&readyz).await.unwrap().status(), 200);

    redis.stop();
    let down = reqwest::get(&readyz).await.unwrap();
    assert_eq!(down.status(), 503);
    let body: Value = down.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    // The cause goes to the log; the anonymous caller learns only that it is down.
    assert_eq!(body["queue"], vigie_domain::platform::health::UNAVAILABLE, "{body}");

    redis.restart();
    let ready = async || reqwest::get(&readyz).await.unwrap().status() == 200;
    until("ready again after Redis came back", std::time::Duration::from_secs(15), ready).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_seeds_the_demo_and_it_logs_in() {
    // A port known before start: the public URL (the demo receiver's) derives from it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bind = format!("127.0.0.1:{port}");
    let server = serve(Backend::Sqlite, &[("VIGIE_DEMO", "true"), ("VIGIE_BIND", &bind)]).await;
    let login = format!(
        "mutation {{ logIn(input: {{ email: \"{}\", password: \"{}\" }}) {{ accessToken }} }}",
        vigie_domain::demo::DEMO_EMAIL,
        vigie_domain::demo::DEMO_PASSWORD
    );
    let response = post_graphql(&server.base, None, &login).await;
    let token = response["data"]["logIn"]["accessToken"].as_str().expect("demo login works").to_owned();
    let brands =
        post_graphql(&server.base, Some(&token), "{ brands { edges { node { id name values { name } } } } }").await;
    let edges = brands["data"]["brands"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    assert!(edges.iter().all(|e| !e["node"]["values"].as_array().unwrap().is_empty()));

    // Two months of history, scored and ranked when the server answers; last night's
    // crisis is open; the embedded workers run what the history queued without failing.
    let id = |name: &str| edges.iter().find(|e| e["node"]["name"] == name).unwrap()["node"]["id"].clone();
    let (verdure, fournee) = (id("Verdure Cosmetics"), id("Fournée"));
    let query = format!(
        "{{ influencers(brandId: {verdure}, first: 3) {{ edges {{ node {{ score author {{ handle }} }} }} }} \
         alerts(brandId: {fournee}, filter: {{ status: OPEN }}) {{ edges {{ node {{ kind brand {{ name }} }} }} }} \
         jobFailures {{ edges {{ node {{ kind error }} }} }} }}"
    );
    let data = post_graphql(&server.base, Some(&token), &query).await;
    let top = data["data"]["influencers"]["edges"].as_array().unwrap();
    assert_eq!(top.len(), 3, "{data}");
    assert!(top[0]["node"]["score"].as_f64().unwrap() > 50.0, "{data}");
    assert_eq!(
        data["data"]["alerts"]["edges"][0]["node"],
        json!({ "kind": "NEGATIVE_SPIKE", "brand": { "name": "Fournée" } }),
        "{data}"
    );
    assert_eq!(data["data"]["jobFailures"]["edges"], json!([]), "{data}");

    // The demo's endpoint delivers to the api's own receiver, which checks signatures;
    // that one URL is let through the guard, nothing else on loopback is.
    let endpoints = post_graphql(&server.base, Some(&token), "{ webhookEndpoints { id url } }").await;
    let endpoint = &endpoints["data"]["webhookEndpoints"][0];
    assert_eq!(endpoint["url"], format!("{}/demo/webhooks", server.base), "{endpoints}");
    let sent = post_graphql(
        &server.base,
        Some(&token),
        &format!("mutation {{ sendTestEvent(endpointId: {}) {{ id }} }}", endpoint["id"]),
    )
    .await;
    let delivery = sent["data"]["sendTestEvent"]["id"].clone();
    let query =
        format!("{{ node(id: {delivery}) {{ ... on WebhookDelivery {{ status attemptLog {{ statusCode }} }} }} }}");
    let delivered = eventually("the test event to be delivered", std::time::Duration::from_secs(15), async || {
        let data = post_graphql(&server.base, Some(&token), &query).await;
        if data["data"]["node"]["status"] == "DELIVERED" { Ok(data) } else { Err(data.to_string()) }
    })
    .await;
    assert_eq!(delivered["data"]["node"]["attemptLog"], json!([{ "statusCode": 204 }]), "{delivered}");
    let client = reqwest::Client::new();
    let forged = client
        .post(format!("{}/demo/webhooks", server.base))
        .header("webhook-id", "msg_1")
        .header("webhook-timestamp", chrono::Utc::now().timestamp().to_string())
        .header("webhook-signature", "v1,Zm9yZ2Vk")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400, "an unsigned delivery is refused");
    let elsewhere = post_graphql(
        &server.base,
        Some(&token),
        &format!("mutation {{ createWebhookEndpoint(input: {{ url: \"{}/graphql\" }}) {{ id }} }}", server.base),
    )
    .await;
    assert_eq!(elsewhere["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{elsewhere}");
    server.stop().await;
}

/// Signs up an agency over HTTP with a brand (handle `verdure` on Mastodon) and an
/// ingest key for it; returns (access token, brand id, key).
const ALERT_FEED: &str = "subscription($b: ID!) { alerts(brandId: $b) { id kind status severity value { name } } }";

/// The embedded mode end to end: mentions pushed over HTTP are scored and checked by
/// the in-process workers, and the alert reaches a subscriber over a real WebSocket;
/// acknowledging it reaches the subscriber too; another agency cannot subscribe.
async fn alerts_reach_subscribers_over_graphql_ws(backend: Backend) {
    let server = serve(backend, &[]).await;
    let base = server.base.clone();
    let (token, brand, key) = agency_with_brand(&base, "owner@agency.example").await;
    let value = format!(
        "mutation {{ createBrandValue(input: {{ brandId: \"{brand}\", name: \"Zéro plastique\", keywords: [\"plastique\"] }}) {{ id }} }}"
    );
    post_graphql(&base, Some(&token), &value).await;
    let (intruder, _, _) = agency_with_brand(&base, "owner@intruder.example").await;
    let mut denied = Subscription::start(&base, &intruder, ALERT_FEED, json!({ "b": brand })).await;
    let refused = denied.message().await;
    assert_eq!(refused["type"], "next", "{refused}");
    assert!(refused["payload"]["data"].is_null(), "{refused}");
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{refused}");

    let mut feed = Subscription::start(&base, &token, ALERT_FEED, json!({ "b": brand })).await;
    let report = ingest_over_http(&base, &key, json!([value_gap_item("gap-1")])).await;
    assert_eq!(report["accepted"], 1, "{report}");
    let opened = feed.next_data().await;
    let alert = &opened["alerts"];
    assert_eq!((alert["kind"].clone(), alert["status"].clone()), (json!("VALUE_GAP"), json!("OPEN")));
    assert_eq!(alert["value"]["name"], "Zéro plastique");

    let ack = format!("mutation {{ acknowledgeAlert(id: \"{}\") {{ status }} }}", alert["id"].as_str().unwrap());
    assert_eq!(post_graphql(&base, Some(&token), &ack).await["data"]["acknowledgeAlert"]["status"], "ACKNOWLEDGED");
    let acknowledged = feed.next_data().await;
    assert_eq!(acknowledged["alerts"]["id"], alert["id"]);
    assert_eq!(acknowledged["alerts"]["status"], "ACKNOWLEDGED");
    server.stop().await;
}
on_both_databases!(alerts_reach_subscribers_over_graphql_ws);

/// The inbox live: a solicitation pushed over HTTP opens a ticket that reaches the
/// subscriber, and answering it reaches it too.
async fn inbox_updates_reach_subscribers_over_graphql_ws(backend: Backend) {
    let server = serve(backend, &[]).await;
    let base = server.base.clone();
    let (token, brand, key) = agency_with_brand(&base, "owner@agency.example").await;
    let feed_query =
        "subscription($b: ID!) { inboxUpdates(brandId: $b) { id status slaState priority mention { externalId } } }";
    let mut feed = Subscription::start(&base, &token, feed_query, json!({ "b": brand })).await;
    let ask = json!({
        "externalId": "ask-1", "network": "mastodon", "text": "@verdure where is my order? Please help",
        "publishedAt": chrono::Utc::now().to_rfc3339(), "author": { "handle": "alice", "followers": 120 }, "direct": true
    });
    assert_eq!(ingest_over_http(&base, &key, json!([ask])).await["accepted"], 1);
    let opened = feed.next_data().await["inboxUpdates"].clone();
    assert_eq!((opened["status"].clone(), opened["slaState"].clone()), (json!("OPEN"), json!("ON_TRACK")));
    assert_eq!(opened["mention"]["externalId"], "ask-1");
    let respond = format!(
        "mutation {{ respondToTicket(id: \"{}\", text: \"On its way!\", channel: \"dm\") {{ status }} }}",
        opened["id"].as_str().unwrap()
    );
    assert_eq!(post_graphql(&base, Some(&token), &respond).await["data"]["respondToTicket"]["status"], "ANSWERED");
    let answered = feed.next_data().await["inboxUpdates"].clone();
    assert_eq!((answered["status"].clone(), answered["slaState"].clone()), (json!("ANSWERED"), json!("MET")));
    server.stop().await;
}
on_both_databases!(inbox_updates_reach_subscribers_over_graphql_ws);

/// `GET /calendar/{token}.ics`: the feed for a live token, the same bare 404 for an
/// unknown, malformed or revoked one.
async fn calendar_feed_over_http(backend: Backend) {
    let server = serve(backend, &[]).await;
    let base = server.base.clone();
    let (token, brand, _) = agency_with_brand(&base, "owner@agency.example").await;
    let create = format!("mutation {{ createCalendarShare(brandId: \"{brand}\") {{ id url }} }}");
    let share = post_graphql(&base, Some(&token), &create).await["data"]["createCalendarShare"].clone();
    let url = share["url"].as_str().unwrap().to_owned();
    let path = &url[url.find("/calendar/").unwrap()..];
    let client = reqwest::Client::new();
    let feed = client.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    assert_eq!(feed.headers()["content-type"], "text/calendar; charset=utf-8");
    let body = feed.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n") && body.contains("X-WR-CALNAME:Verdure — CSR calendar"), "{body}");
    for missing in ["/calendar/vgc_guessed.ics", "/calendar/not-a-feed", "/calendar/.ics"] {
        let response = client.get(format!("{base}{missing}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
        assert!(response.text().await.unwrap().is_empty());
    }
    let revoke =
        format!("mutation {{ revokeCalendarShare(id: \"{}\") {{ revokedAt }} }}", share["id"].as_str().unwrap());
    post_graphql(&base, Some(&token), &revoke).await;
    assert_eq!(client.get(format!("{base}{path}")).send().await.unwrap().status(), 404, "revoked");
    server.stop().await;
}
on_both_databases!(calendar_feed_over_http);

/// A shared report end to end: the page (self-contained, charts rendered on the server)
/// opened in headless Chromium and screenshotted, CSV per section, and the same data in
/// GraphQL without a login; a revoked link is an empty 404.
async fn shared_report_in_a_real_browser(backend: Backend) {
    let server = serve(backend, &[]).await;
    let base = server.base.clone();
    let (token, brand, key) = agency_with_brand(&base, "owner@agency.example").await;
    let now = chrono::Utc::now();
    let items: Vec<Value> = (0..12)
        .map(|i| {
            let text = if i % 3 == 0 {
                "Verdure refund never arrived, terrible service"
            } else {
                "I love Verdure, great shampoo"
            };
            json!({ "externalId": format!("m{i}"), "network": "mastodon", "text": text,
                    "publishedAt": (now - chrono::Duration::days(i % 5) - chrono::Duration::hours(1)).to_rfc3339(),
                    "author": { "handle": format!("fan{}", i % 4), "followers": 1000 * (i + 1) } })
        })
        .collect();
    assert_eq!(ingest_over_http(&base, &key, json!(items)).await["accepted"], 12);
    let pillar = format!(
        "mutation {{ createCsrPillar(input: {{ brandId: \"{brand}\", name: \"Environnement\", targetShare: 0.6 }}) {{ id }} }}"
    );
    post_graphql(&base, Some(&token), &pillar).await;
    // Scoring runs in the embedded workers: wait until the influencers are ranked.
    let ranked = format!("{{ influencers(brandId: \"{brand}\") {{ edges {{ node {{ id }} }} }} }}");
    until("scoring to rank four influencers", std::time::Duration::from_secs(20), async || {
        let answer = post_graphql(&base, Some(&token), &ranked).await;
        answer["data"]["influencers"]["edges"].as_array().is_some_and(|e| e.len() >= 4)
    })
    .await;
    let create = format!(
        "mutation {{ createReportShare(input: {{ brandId: \"{brand}\", from: \"{}\", to: \"{}\", expiresAt: \"{}\" }}) {{ id url token }} }}",
        (now - chrono::Duration::days(7)).to_rfc3339(),
        (now + chrono::Duration::days(1)).to_rfc3339(),
        (now + chrono::Duration::days(30)).to_rfc3339()
    );
    let share = post_graphql(&base, Some(&token), &create).await["data"]["createReportShare"].clone();
    let url = share["url"].as_str().unwrap().to_owned();
    let path = &url[url.find("/r/").unwrap()..];
    let page_url = format!("{base}{path}");

    let client = reqwest::Client::new();
    let page = client.get(&page_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let html = page.text().await.unwrap();
    for id in ["chart-volume", "chart-influencers", "chart-sla", "chart-csr"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} missing");
    }
    assert!(!html.contains("<script") && !html.contains("src=\"http") && !html.contains("@import"), "self-contained");
    let csv = client.get(format!("{page_url}/mentions.csv")).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("day,mentions,negative,positive,mean_sentiment\r\n"), "{csv}");
    let total: i64 = csv.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap()).sum();
    assert_eq!(total, 12);
    assert!(
        client.get(format!("{page_url}/influencers.csv")).send().await.unwrap().text().await.unwrap().contains("fan")
    );
    assert_eq!(client.get(format!("{page_url}/secrets.csv")).send().await.unwrap().status(), 404);
    for unknown in ["/r/vgs_guessed", "/r/vgs_guessed/mentions.csv"] {
        let response = client.get(format!("{base}{unknown}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{unknown}");
        assert!(response.text().await.unwrap().is_empty(), "no data for {unknown}");
    }

    // The same data in GraphQL, with the token only.
    let query = format!(
        "{{ sharedReport(token: \"{}\") {{ brandName sections mentionsByDay {{ mentions negative }} topInfluencers {{ handle score }} csr {{ pillars {{ name targetShare }} }} }} }}",
        share["token"].as_str().unwrap()
    );
    let report = post_graphql(&base, None, &query).await["data"]["sharedReport"].clone();
    assert_eq!(report["brandName"], "Verdure");
    let mentions: i64 =
        report["mentionsByDay"].as_array().unwrap().iter().map(|d| d["mentions"].as_i64().unwrap()).sum();
    assert_eq!(mentions, 12);
    assert_eq!(report["topInfluencers"].as_array().unwrap().len(), 4);
    assert_eq!(report["csr"]["pillars"], json!([{ "name": "Environnement", "targetShare": 0.6 }]));

    // A real browser renders it: the charts are in the rendered DOM and a screenshot is taken.
    let shot = std::env::temp_dir().join(format!("vigie-report-{}.png", uuid::Uuid::new_v4().simple()));
    let chromium = |args: &[&str]| {
        let output = std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
            .args(args)
            .output()
            .expect("chromium (tests/run installs it)");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let page_for_browser = page_url.clone();
    let dom = tokio::task::spawn_blocking(move || chromium(&["--dump-dom", &page_for_browser])).await.unwrap();
    assert!(dom.contains("<svg") && dom.contains("chart-volume") && dom.contains("class=\"bar\""), "{dom}");
    let shot_arg = format!("--screenshot={}", shot.display());
    let page_for_shot = page_url.clone();
    tokio::task::spawn_blocking(move || {
        chromium(&["--window-size=412,2400", "--hide-scrollbars", &shot_arg, &page_for_shot])
    })
    .await
    .unwrap();
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    let _ = std::fs::remove_file(&shot);

    let revoke = format!("mutation {{ revokeReportShare(id: \"{}\") {{ revokedAt }} }}", share["id"].as_str().unwrap());
    post_graphql(&base, Some(&token), &revoke).await;
    let gone = client.get(&page_url).send().await.unwrap();
    assert_eq!(gone.status(), 404);
    assert!(gone.text().await.unwrap().is_empty());
    assert_eq!(post_graphql(&base, None, &query).await["errors"][0]["extensions"]["code"], "NOT_FOUND");
    server.stop().await;
}
on_both_databases!(shared_report_in_a_real_browser);
