//! Abuse over real HTTP: per-tenant rate limits (in memory in the embedded mode, shared
//! through Redis by api replicas in production) and query cost limits that refuse an
//! abusive query before it runs.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use vigie_api::graphql::limits::{MAX_SOCKET_OPERATIONS, TOO_MANY_OPERATIONS};
use vigie_tests::redis_server::RedisCluster;
use vigie_tests::ws::Subscription;
use vigie_tests::{
    ApiServer, Backend, TestDb, agency_with_brand, assert_error, in_both_modes, on_both_databases, post_graphql,
    redis_url, serve, test_config,
};

/// `count` api replicas over one fresh database: the embedded mode (SQLite, in-process
/// queue and limiter) or production (PostgreSQL, Redis).
async fn replicas(production: bool, count: usize, extra: &[(&str, &str)]) -> (Vec<ApiServer>, TestDb) {
    let redis = redis_url();
    let redis: &[(&str, &str)] = if production { &[("REDIS_URL", &redis)] } else { &[] };
    replicas_over(redis, count, extra).await
}

/// `count` api replicas sharing a database and the Redis `redis` sets up (PostgreSQL
/// with Redis, SQLite without).
async fn replicas_over(redis: &[(&str, &str)], count: usize, extra: &[(&str, &str)]) -> (Vec<ApiServer>, TestDb) {
    let db = TestDb::new(if redis.is_empty() { Backend::Sqlite } else { Backend::Postgres }).await;
    let vars = [redis, extra].concat();
    let config = Arc::new(test_config(&db, &vars));
    let mut apis = Vec::new();
    for _ in 0..count {
        apis.push(ApiServer::start(config.clone()).await);
    }
    (apis, db)
}

/// A refused request's `Retry-After`, in seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    let header = response.headers().get("retry-after").expect("a Retry-After header");
    header.to_str().unwrap().parse().expect("Retry-After in seconds")
}

async fn post(base: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!("{base}/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

const ME: &str = "{ me { role } }";

/// Sends `{ me }` as `token`, round robin over `bases`, until one is refused. Returns how
/// many were answered before, and the refusal.
async fn exhaust(bases: &[String], token: &str) -> (usize, reqwest::Response) {
    for sent in 0..500 {
        let response = post(&bases[sent % bases.len()], Some(token), &json!({ "query": ME })).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            return (sent, response);
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["data"]["me"]["role"], "OWNER", "{body:#}");
    }
    panic!("500 requests at 20/min and none refused");
}

/// An agency's GraphQL quota: a full burst, then `429` with `RATE_LIMITED` and a
/// `Retry-After` that is enough; another agency is not affected. In production two
/// replicas draw from one bucket.
async fn graphql_quota_is_per_agency(production: bool) {
    let (apis, _db) = replicas(production, 2, &[("VIGIE_RATE_LIMIT_GRAPHQL", "20/min")]).await;
    let bases: Vec<String> = apis.iter().map(|api| api.base.clone()).collect();
    let (token_a, _, _) = agency_with_brand(&bases[0], "a@example.com").await;
    let (token_b, _, _) = agency_with_brand(&bases[1], "b@example.com").await;

    let (answered, refused) = exhaust(&bases, &token_a).await;
    // agency_with_brand spent 2 of the 20; tokens come back every 3 s while this runs.
    assert!(answered >= 18, "the burst is the whole quota: {answered}");
    if production {
        assert!(answered < 38, "replicas must share one bucket, yet {answered} were answered");
    }
    let wait = retry_after(&refused);
    assert!((1..=3).contains(&wait), "one token comes back every 3 s: Retry-After {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_error(&body, "RATE_LIMITED");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], wait);

    let other = post_graphql(&bases[0], Some(&token_b), ME).await;
    assert_eq!(other["data"]["me"]["role"], "OWNER", "another agency keeps its quota: {other:#}");

    tokio::time::sleep(Duration::from_secs(wait)).await;
    let again = post_graphql(&bases[1], Some(&token_a), ME).await;
    assert_eq!(again["data"]["me"]["role"], "OWNER", "after Retry-After the agency is served: {again:#}");

    let metrics = reqwest::get(format!("{}/metrics", bases[0])).await.unwrap().text().await.unwrap();
    assert!(metrics.contains("vigie_rate_limited_total{scope=\"graphql\"}"), "{metrics}");
    for api in apis {
        api.stop().await;
    }
}
in_both_modes!(graphql_quota_is_per_agency);

/// Over a three-primary Redis Cluster, two replicas still draw from one bucket per
/// agency (the log-in throttle's keys are in `production.rs`'s cluster test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_are_shared_over_a_redis_cluster() {
    let cluster = RedisCluster::start();
    let redis = [("REDIS_URL", cluster.url()), ("VIGIE_REDIS_CLUSTER", "true".into())];
    let redis: Vec<(&str, &str)> = redis.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (apis, _db) = replicas_over(&redis, 2, &[("VIGIE_RATE_LIMIT_GRAPHQL", "20/min")]).await;
    let bases: Vec<String> = apis.iter().map(|api| api.base.clone()).collect();
    let (token, _, _) = agency_with_brand(&bases[0], "a@example.com").await;
    let (answered, refused) = exhaust(&bases, &token).await;
    assert!((18..38).contains(&answered), "one bucket for both replicas: {answered} answered");
    assert_error(&refused.json().await.unwrap(), "RATE_LIMITED");
    for api in apis {
        api.stop().await;
    }
}

/// Requests without valid credentials (log-in attempts, forged tokens, bad API keys,
/// shared-report links) draw on their address's quota, which bounds password and token
/// guessing; authenticated agencies keep their own quota.
async fn anonymous_requests_are_limited_per_address(production: bool) {
    let (apis, _db) = replicas(production, 1, &[("VIGIE_RATE_LIMIT_ANONYMOUS", "4/h")]).await;
    let base = &apis[0].base;
    let (token, _, _) = agency_with_brand(base, "owner@example.com").await; // 1: signUp
    let log_in =
        "mutation { logIn(input: { email: \"owner@example.com\", password: \"wrong password!\" }) { accessToken } }";
    assert_error(&post_graphql(base, None, log_in).await, "UNAUTHENTICATED"); // 2
    assert_error(&post_graphql(base, Some("forged.token.value"), ME).await, "UNAUTHENTICATED"); // 3
    let client = reqwest::Client::new();
    let bad_key = client.post(format!("{base}/ingest/mentions")).bearer_auth("vgk_guess").body("[]").send().await;
    assert_eq!(bad_key.unwrap().status(), StatusCode::UNAUTHORIZED); // 4

    let refused = post(base, None, &json!({ "query": log_in })).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) > 800, "one token per 15 min");
    assert_error(&refused.json().await.unwrap(), "RATE_LIMITED");
    let report = client.get(format!("{base}/r/some-guessed-token")).send().await.unwrap();
    assert_eq!(report.status(), StatusCode::TOO_MANY_REQUESTS);
    let bad_key = client.post(format!("{base}/ingest/mentions")).bearer_auth("vgk_guess").body("[]").send().await;
    let bad_key = bad_key.unwrap();
    assert_eq!(bad_key.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&bad_key) > 800);
    let body: Value = bad_key.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");

    let me = post_graphql(base, Some(&token), ME).await;
    assert_eq!(me["data"]["me"]["role"], "OWNER", "a logged-in agency has its own quota: {me:#}");
    apis.into_iter().next().unwrap().stop().await;
}
in_both_modes!(anonymous_requests_are_limited_per_address);

/// The ingest quota is per agency: a pushing tool that floods is told when to come
/// back, and another agency's pushes go through.
async fn ingest_quota_is_per_agency(production: bool) {
    let (apis, _db) = replicas(production, 1, &[("VIGIE_RATE_LIMIT_INGEST", "2/h")]).await;
    let base = &apis[0].base;
    let (_, _, key_a) = agency_with_brand(base, "a@example.com").await;
    let (_, _, key_b) = agency_with_brand(base, "b@example.com").await;
    let client = reqwest::Client::new();
    let push = |key: String| {
        let client = client.clone();
        let url = format!("{base}/ingest/mentions");
        async move { client.post(url).bearer_auth(key).body("[]").send().await.unwrap() }
    };
    for _ in 0..2 {
        let response = push(key_a.clone()).await;
        assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let refused = push(key_a.clone()).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&refused) > 1700, "one push per 30 min");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_ne!(push(key_b).await.status(), StatusCode::TOO_MANY_REQUESTS, "another agency pushes");
    apis.into_iter().next().unwrap().stop().await;
}
in_both_modes!(ingest_quota_is_per_agency);

/// The payload of operation `id`'s answer on a socket, skipping other operations'
/// messages.
async fn answer(socket: &mut Subscription, id: &str) -> Value {
    loop {
        let message = socket.message().await;
        if message["id"] == id && message["type"] == "next" {
            return message["payload"].clone();
        }
        assert_ne!(message["type"], "error", "operation refused by validation: {message}");
    }
}

/// One WebSocket upgrade carries any number of operations: each draws on the caller's
/// quota as a POST would (the agency's bucket, shared with its POSTs; the client
/// address's when the socket has no credentials), and one connection runs at most
/// `MAX_SOCKET_OPERATIONS` at once.
async fn websocket_operations_draw_on_the_same_quotas(production: bool) {
    // One token back every 90 s (GraphQL) and 12 min (anonymous): none during the test.
    let quotas = [("VIGIE_RATE_LIMIT_GRAPHQL", "40/h"), ("VIGIE_RATE_LIMIT_ANONYMOUS", "5/h")];
    let (apis, _db) = replicas(production, 1, &quotas).await;
    let base = &apis[0].base;
    let (token, brand, _) = agency_with_brand(base, "a@example.com").await; // anonymous 1 (signUp), GraphQL 2

    let mut socket = Subscription::connect(base, Some(&token)).await; // anonymous 2: the upgrade
    let alerts = "subscription($b: ID!) { alerts(brandId: $b) { id } }";
    for i in 0..=MAX_SOCKET_OPERATIONS {
        socket.subscribe(&format!("s{i}"), alerts, json!({ "b": brand })).await; // GraphQL 3..=18
    }
    let over = format!("s{MAX_SOCKET_OPERATIONS}");
    let refusal = socket.message().await;
    assert_eq!((&refusal["id"], &refusal["type"]), (&json!(over), &json!("next")), "{refusal}");
    assert_error(&refusal["payload"], TOO_MANY_OPERATIONS);
    assert_eq!(socket.message().await, json!({ "id": over, "type": "complete" }));
    socket.complete("s0").await;
    assert_eq!(socket.message().await, json!({ "id": "s0", "type": "complete" }));
    socket.subscribe("freed", ME, json!({})).await; // GraphQL 19
    let freed = answer(&mut socket, "freed").await;
    assert_eq!(freed["data"]["me"]["role"], "OWNER", "a completed subscription frees its slot: {freed:#}");

    let mut answered = 0;
    let refused = loop {
        let id = format!("q{answered}");
        socket.subscribe(&id, ME, json!({})).await;
        let payload = answer(&mut socket, &id).await;
        if payload["data"].is_null() {
            break payload;
        }
        assert_eq!(payload["data"]["me"]["role"], "OWNER", "{payload:#}");
        answered += 1;
        assert!(answered <= 40, "40 queries over the socket at 40/h and none refused");
    };
    // 2 + 16 + 1 spent before.
    assert_eq!(answered, 21, "the socket drew the rest of the agency's 40 tokens, no more");
    assert_error(&refused, "RATE_LIMITED");
    let retry = refused["errors"][0]["extensions"]["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=90).contains(&retry), "one token every 90 s: retryAfter {retry}");
    let post = post(base, Some(&token), &json!({ "query": ME })).await;
    assert_eq!(post.status(), StatusCode::TOO_MANY_REQUESTS, "POSTs draw on the bucket the socket emptied");

    // Without credentials: the address's quota, for the upgrade and for each operation
    // (a socket must not be a way around the bound on password guessing).
    let mut anonymous = Subscription::connect(base, None).await; // anonymous 3
    let log_in =
        "mutation { logIn(input: { email: \"a@example.com\", password: \"wrong password!\" }) { accessToken } }";
    for attempt in ["l1", "l2"] {
        anonymous.subscribe(attempt, log_in, json!({})).await; // anonymous 4, 5
        assert_error(&answer(&mut anonymous, attempt).await, "UNAUTHENTICATED");
    }
    anonymous.subscribe("l3", log_in, json!({})).await;
    assert_error(&answer(&mut anonymous, "l3").await, "RATE_LIMITED");
    match Subscription::upgrade(base).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS.as_u16());
        }
        Err(other) => panic!("expected a 429 refusal of the upgrade, got {other}"),
        Ok(_) => panic!("the address's quota is spent, yet the upgrade went through"),
    }
    apis.into_iter().next().unwrap().stop().await;
}
in_both_modes!(websocket_operations_draw_on_the_same_quotas);

/// A connection's messages are handled in the order they were sent: a subscription
/// started and stopped at once is stopped (never left running, holding a slot and
/// sending what nobody listens to), however fast the client goes.
async fn websocket_messages_are_handled_in_order(production: bool) {
    let (apis, _db) = replicas(production, 1, &[]).await;
    let base = &apis[0].base;
    let (token, brand, _) = agency_with_brand(base, "a@example.com").await;
    let mut socket = Subscription::connect(base, Some(&token)).await;
    let alerts = "subscription($b: ID!) { alerts(brandId: $b) { id } }";
    for i in 0..3 * MAX_SOCKET_OPERATIONS {
        socket.subscribe(&format!("c{i}"), alerts, json!({ "b": brand })).await;
        socket.complete(&format!("c{i}")).await;
    }
    for i in 0..3 * MAX_SOCKET_OPERATIONS {
        assert_eq!(socket.message().await, json!({ "id": format!("c{i}"), "type": "complete" }));
    }
    // Every slot is free again: exactly MAX_SOCKET_OPERATIONS more may run.
    for i in 0..MAX_SOCKET_OPERATIONS {
        socket.subscribe(&format!("s{i}"), alerts, json!({ "b": brand })).await;
    }
    socket.subscribe("probe", ME, json!({})).await;
    let refusal = socket.message().await;
    assert_eq!((&refusal["id"], &refusal["type"]), (&json!("probe"), &json!("next")), "{refusal}");
    assert_error(&refusal["payload"], TOO_MANY_OPERATIONS);
    apis.into_iter().next().unwrap().stop().await;
}
in_both_modes!(websocket_messages_are_handled_in_order);

/// A WebSocket that never completes `connection_init` is closed after a few seconds
/// with graphql-ws' code 4408, even while it pings.
async fn websocket_without_init_is_closed(production: bool) {
    let (apis, _db) = replicas(production, 1, &[]).await;
    let mut socket = Subscription::upgrade(&apis[0].base).await.expect("WebSocket upgrade");
    socket.send_raw(json!({ "type": "ping" })).await;
    assert_eq!(socket.message().await["type"], "pong", "the protocol answers before init");
    assert_eq!(socket.closed().await, 4408);
    apis.into_iter().next().unwrap().stop().await;
}
in_both_modes!(websocket_without_init_is_closed);

/// Stopping the api closes its WebSocket connections with "going away" (1001), so
/// clients reconnect to another replica at once instead of holding the stop for its
/// 30-second drain.
async fn stopping_closes_websockets(production: bool) {
    let (apis, _db) = replicas(production, 1, &[]).await;
    let api = apis.into_iter().next().unwrap();
    let (token, brand, _) = agency_with_brand(&api.base, "a@example.com").await;
    let mut socket = Subscription::start(
        &api.base,
        &token,
        "subscription($b: ID!) { alerts(brandId: $b) { id } }",
        json!({ "b": brand }),
    )
    .await;
    let stopping = tokio::spawn(api.stop());
    assert_eq!(socket.closed().await, 1001);
    stopping.await.unwrap();
}
in_both_modes!(stopping_closes_websockets);

async fn brand_count(base: &str, token: &str) -> usize {
    let brands = post_graphql(base, Some(token), "{ brands(first: 100) { edges { node { id } } } }").await;
    brands["data"]["brands"]["edges"].as_array().expect("brands").len()
}

/// Abusive requests are refused before anything runs: many aliases of a mutation, a
/// fragment repeating mutations, batches. (Depth, complexity and page size: `auth.rs`.)
async fn abusive_queries_are_refused_before_they_run(backend: Backend) {
    let server = serve(backend, &[]).await;
    let base = &server.base;
    let (owner, _, _) = agency_with_brand(base, "owner@example.com").await;
    let token = Some(owner.as_str());

    let creates: String = (0..1000)
        .map(|i| format!("b{i}: createBrand(input: {{ name: \"Spam {i}\", timeZone: \"UTC\" }}) {{ id }} "))
        .collect();
    let creates = post_graphql(base, token, &format!("mutation {{ {creates} }}")).await;
    assert_error(&creates, "QUERY_TOO_COMPLEX");
    assert_eq!(brand_count(base, &owner).await, 1, "no aliased mutation ran");
    let fragment: String =
        (0..7).map(|i| format!("k{i}: createApiKey(input: {{ name: \"k{i}\" }}) {{ secret }} ")).collect();
    let spread = format!("mutation {{ ...Keys ...Keys ...Keys }} fragment Keys on Mutation {{ {fragment} }}");
    assert_error(&post_graphql(base, token, &spread).await, "QUERY_TOO_COMPLEX");
    let keys = post_graphql(base, token, "{ apiKeys { edges { node { id } } } }").await;
    assert_eq!(keys["data"]["apiKeys"]["edges"].as_array().unwrap().len(), 1, "no key was created: {keys:#}");
    let twenty: String = (0..20)
        .map(|i| format!("b{i}: createBrand(input: {{ name: \"Batch {i}\", timeZone: \"UTC\" }}) {{ id }} "))
        .collect();
    let twenty = post_graphql(base, token, &format!("mutation {{ {twenty} }}")).await;
    assert!(twenty.get("errors").is_none(), "twenty mutations are allowed: {twenty:#}");
    assert_eq!(brand_count(base, &owner).await, 21);

    // Batches would multiply every limit above by their length: they are not accepted.
    let one = json!({ "query": "mutation { createBrand(input: { name: \"Batched\", timeZone: \"UTC\" }) { id } }" });
    let batch = post(base, token, &json!([one, one, one])).await;
    assert_eq!(batch.status(), StatusCode::BAD_REQUEST);
    assert_eq!(brand_count(base, &owner).await, 21, "no batched mutation ran");
    server.stop().await;
}
on_both_databases!(abusive_queries_are_refused_before_they_run);
