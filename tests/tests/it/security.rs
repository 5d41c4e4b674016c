//! The holes a security review found (issue 29), each tried as an attacker would:
//! sockets that outlive access, unbounded bodies, password guessing, aliased
//! aggregates, invented methods.

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigie_tests::ws::Subscription;
use vigie_tests::{
    ApiServer, Backend, TestApp, TestDb, agency_with_brand, assert_error, in_both_modes, invitation_code, post_graphql,
    redis_url, test_config,
};

/// An api over a fresh database: the embedded mode (SQLite, in-process bus and
/// limiter) or production (PostgreSQL, Redis).
async fn api(production: bool, extra: &[(&str, &str)]) -> (ApiServer, TestDb) {
    let db = TestDb::new(if production { Backend::Postgres } else { Backend::Sqlite }).await;
    let redis = redis_url();
    let mut vars = extra.to_vec();
    if production {
        vars.push(("REDIS_URL", &redis));
    }
    let api = ApiServer::start(Arc::new(test_config(&db, &vars))).await;
    (api, db)
}

async fn post(base: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(format!("{base}/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// Invites `email` as `role` on `brand` over HTTP and accepts with the code from the
/// outbox: the new member's access token and member id.
async fn invite(base: &str, db: &TestDb, owner: &str, email: &str, role: &str, brand: &str) -> (String, String) {
    let invite = format!(
        "mutation {{ inviteMember(input: {{ email: \"{email}\", role: {role}, brandIds: [\"{brand}\"] }}) {{ id }} }}"
    );
    let invited = post_graphql(base, Some(owner), &invite).await;
    assert!(invited.get("errors").is_none(), "{invited:#}");
    let conn = Database::connect(&db.url).await.unwrap();
    let statement = sea_orm::Statement::from_sql_and_values(
        conn.get_database_backend(),
        match conn.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "SELECT text_body FROM email_outbox WHERE to_address = $1",
            _ => "SELECT text_body FROM email_outbox WHERE to_address = ?",
        },
        [email.into()],
    );
    let row = conn.query_one_raw(statement).await.unwrap().expect("the invitation email");
    let code = invitation_code(&row.try_get_by_index::<String>(0).unwrap());
    conn.close().await.ok();
    let accept = json!({
        "query": "mutation($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken } }",
        "variables": { "input": { "token": code, "name": "Invitee", "password": "correct horse battery" } },
    });
    let accepted: Value = post(base, None, &accept).await.json().await.unwrap();
    let token = accepted["data"]["acceptInvitation"]["accessToken"].as_str().expect("accepted").to_owned();
    let me = post_graphql(base, Some(&token), "{ me { memberId } }").await;
    (token, me["data"]["me"]["memberId"].as_str().unwrap().to_owned())
}

/// Runs `query` as operation `id` on an open socket and returns its first answer.
async fn run(socket: &mut Subscription, id: &str, query: &str) -> Value {
    socket.subscribe(id, query, json!({})).await;
    loop {
        let message = socket.message().await;
        if message["id"] == id {
            return message;
        }
    }
}

/// A member removed while their socket is open loses it: the socket closes with 4403,
/// which ends their subscription, and the same token gets nothing on a new socket.
async fn a_removed_member_loses_an_open_socket(production: bool) {
    let (api, db) = api(production, &[]).await;
    let (owner, brand, _) = agency_with_brand(&api.base, "owner@example.com").await;
    let (member, member_id) = invite(&api.base, &db, &owner, "member@example.com", "MEMBER", &brand).await;

    let subscription = "subscription($b: ID!) { alerts(brandId: $b) { id } }";
    let mut socket = Subscription::start(&api.base, &member, subscription, json!({ "b": brand })).await;
    let answer = run(&mut socket, "2", "{ me { role } }").await;
    assert_eq!(answer["payload"]["data"]["me"]["role"], "MEMBER", "{answer:#}");

    let removed = post_graphql(
        &api.base,
        Some(&owner),
        &format!("mutation {{ removeMember(memberId: \"{member_id}\") {{ deletedId }} }}"),
    )
    .await;
    assert!(removed.get("errors").is_none(), "{removed:#}");
    assert_eq!(socket.closed().await, 4403, "the socket closes when the membership ends");

    let mut again = Subscription::connect(&api.base, Some(&member)).await;
    let answer = run(&mut again, "1", "{ me { role } }").await;
    assert_error(&answer["payload"], "UNAUTHENTICATED");
    api.stop().await;
}
in_both_modes!(a_removed_member_loses_an_open_socket);

/// Each operation on a socket resolves its caller again: an admin demoted behind the
/// api's back (no notice, no cache) cannot invite on a socket opened as an admin.
async fn each_socket_operation_resolves_its_caller_again(production: bool) {
    let (api, db) = api(production, &[("VIGIE_CALLER_CACHE_SECS", "0")]).await;
    let (owner, brand, _) = agency_with_brand(&api.base, "owner@example.com").await;
    let (admin, _) = invite(&api.base, &db, &owner, "admin@example.com", "ADMIN", &brand).await;
    let mut socket = Subscription::connect(&api.base, Some(&admin)).await;
    let invite = "mutation { inviteMember(input: { email: \"x@example.com\", role: MEMBER }) { id } }";
    let answer = run(&mut socket, "1", invite).await;
    assert!(answer["payload"].get("errors").is_none(), "an admin invites: {answer:#}");

    let conn = Database::connect(&db.url).await.unwrap();
    // The only admin of this fresh database (ids are stored differently per backend).
    let demoted = conn.execute_unprepared("UPDATE membership SET role = 'member' WHERE role = 'admin'").await.unwrap();
    assert_eq!(demoted.rows_affected(), 1);
    conn.close().await.ok();
    let invite = "mutation { inviteMember(input: { email: \"y@example.com\", role: MEMBER }) { id } }";
    let answer = run(&mut socket, "2", invite).await;
    assert_error(&answer["payload"], "FORBIDDEN");
    api.stop().await;
}
in_both_modes!(each_socket_operation_resolves_its_caller_again);

/// A socket is closed with 4403 when its access token expires, even while it pings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_closes_when_its_token_expires() {
    let (api, _db) = api(false, &[("VIGIE_ACCESS_TOKEN_TTL_SECS", "2")]).await;
    let (owner, _, _) = agency_with_brand(&api.base, "owner@example.com").await;
    let mut socket = Subscription::connect(&api.base, Some(&owner)).await;
    let opened = Instant::now();
    assert_eq!(socket.closed().await, 4403);
    assert!(opened.elapsed() < Duration::from_secs(10), "closed at expiry, not later: {:?}", opened.elapsed());
    api.stop().await;
}

/// The resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the process's status");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// Sends a POST of `total` bytes of JSON-looking body in chunks without announcing its
/// length, and returns the status line of the answer.
async fn post_chunked(addr: &str, total: usize) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        for _ in 0..total / chunk.len() {
            if writer.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buffer)).await.unwrap().unwrap();
        assert!(n > 0, "the server closed without answering");
        answer.extend_from_slice(&buffer[..n]);
    }
    drop(reader);
    writing.await.unwrap();
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

/// `/graphql` reads at most `VIGIE_MAX_BODY_BYTES` (1 MiB by default) of a body: a
/// 50 MB one is refused with 413 in GraphQL's error shape, announced or not, without
/// the api process growing; multipart bodies are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_are_bounded() {
    let db = TestDb::new(Backend::Sqlite).await;
    let env = [("VIGIE_RATE_LIMIT_ANONYMOUS", "off"), ("RUST_LOG", "warn")];
    let (mut child, addr) = api_process(&db, &env, std::process::Stdio::null()).await;
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let pid = child.0[0].id();
    // Warm up the paths a request takes, so that what they allocate once is counted before.
    for _ in 0..3 {
        let _ = post_chunked(&addr, 2 << 20).await;
        post_graphql(&base, None, "{ __typename }").await;
    }
    let before = rss(pid);

    let announced = client
        .post(format!("{base}/graphql"))
        .header("content-type", "application/json")
        .body(vec![b' '; 50_000_000])
        .send()
        .await;
    // The server may answer and close before the client has sent everything.
    if let Ok(response) = announced {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.json().await.unwrap();
        assert_error(&body, "PAYLOAD_TOO_LARGE");
    }
    let status = post_chunked(&addr, 50_000_000).await;
    assert!(status.contains(" 413 "), "{status}");
    let grown = rss(pid).saturating_sub(before);
    assert!(grown < 8 << 20, "the api grew by {} KiB for refused bodies", grown / 1024);

    let multipart = client
        .post(format!("{base}/graphql"))
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{\"query\":\"{ __typename }\"}\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(multipart.status(), StatusCode::BAD_REQUEST);
    assert_error(&multipart.json().await.unwrap(), "BAD_USER_INPUT");
    let under = post(&base, None, &json!({ "query": format!("{{ __typename }}{}", " ".repeat(900_000)) })).await;
    assert_eq!(under.status(), StatusCode::OK, "a body under the limit is served");
    drop(child.0.pop().map(|mut c| c.kill()));
}

/// A WebSocket message over the limit ends the connection rather than being read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_are_bounded() {
    let (api, _db) = api(false, &[("VIGIE_MAX_BODY_BYTES", "65536")]).await;
    let (owner, _, _) = agency_with_brand(&api.base, "owner@example.com").await;
    let mut socket = Subscription::connect(&api.base, Some(&owner)).await;
    let query = format!("{{ __typename }}{}", " ".repeat(100_000));
    socket.subscribe("1", &query, json!({})).await;
    let code = socket.closed().await;
    assert_ne!(code, 1000, "closed for the oversized message, not normally");
    api.stop().await;
}

const LOG_IN: &str = "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken } }";

fn log_in(email: &str, password: &str) -> Value {
    json!({ "query": LOG_IN, "variables": { "e": email, "p": password } })
}

/// One credential mutation per request, aliases included; and a valid token does not
/// move log-in attempts to the agency's quota: they draw on the client network's.
async fn credential_mutations_are_one_per_request_on_the_network_quota(production: bool) {
    let (api, _db) =
        api(production, &[("VIGIE_RATE_LIMIT_ANONYMOUS", "4/h"), ("VIGIE_RATE_LIMIT_GRAPHQL", "1000/min")]).await;
    let (token, _, _) = agency_with_brand(&api.base, "owner@example.com").await; // 1: signUp
    let aliased = "mutation { a: logIn(input: { email: \"owner@example.com\", password: \"guess one!!\" }) { accessToken } \
                   b: logIn(input: { email: \"owner@example.com\", password: \"guess two!!\" }) { accessToken } }";
    let body: Value = post(&api.base, Some(&token), &json!({ "query": aliased })).await.json().await.unwrap();
    assert_error(&body, "QUERY_TOO_COMPLEX");
    let mut answered = 0;
    let refused = loop {
        let response = post(&api.base, Some(&token), &log_in("owner@example.com", "wrong password")).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            break response;
        }
        answered += 1;
        assert!(answered <= 3, "a token must not buy log-in attempts");
    };
    assert_eq!(answered, 3, "signUp and three attempts spend the network's 4/h");
    assert_error(&refused.json().await.unwrap(), "RATE_LIMITED");
    let me = post_graphql(&api.base, Some(&token), "{ me { role } }").await;
    assert_eq!(me["data"]["me"]["role"], "OWNER", "the agency's own quota is untouched: {me:#}");
    api.stop().await;
}
in_both_modes!(credential_mutations_are_one_per_request_on_the_network_quota);

/// IPv6 clients are counted per /64: addresses of one subscriber share a bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_share_their_64() {
    let (api, _db) = api(false, &[("VIGIE_RATE_LIMIT_ANONYMOUS", "3/h"), ("VIGIE_BEHIND_PROXY", "true")]).await;
    let attempt = |address: String| {
        let base = api.base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/graphql"))
                .header("x-forwarded-for", address)
                .json(&log_in("nobody@example.com", "wrong password"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for host in 1..=3 {
        assert_eq!(attempt(format!("2001:db8:1:2::{host}")).await, StatusCode::OK);
    }
    assert_eq!(attempt("2001:db8:1:2:ffff:1:2:3".into()).await, StatusCode::TOO_MANY_REQUESTS, "same /64");
    assert_eq!(attempt("2001:db8:1:3::1".into()).await, StatusCode::OK, "another /64 has its own bucket");
    api.stop().await;
}

/// Failed log-ins lock the account past five (1 s, 2 s, 4 s…), even for the right
/// password; the lock passes, and after a burst of ten the owner is told by email.
async fn failed_log_ins_slow_the_account_down(production: bool) {
    // Behind a proxy, so that the test can speak from two networks.
    let (api, db) = api(production, &[("VIGIE_RATE_LIMIT_ANONYMOUS", "off"), ("VIGIE_BEHIND_PROXY", "true")]).await;
    agency_with_brand(&api.base, "owner@example.com").await;
    let attempt = |password: &'static str| {
        let base = api.base.clone();
        async move { post(&base, None, &log_in("owner@example.com", password)).await.json::<Value>().await.unwrap() }
    };
    for _ in 0..6 {
        assert_error(&attempt("wrong password").await, "UNAUTHENTICATED");
    }
    let locked = attempt("correct horse battery").await;
    assert_error(&locked, "RATE_LIMITED");
    assert_error(&attempt("wrong password").await, "RATE_LIMITED");
    // A stranger's guesses lock the stranger's network, not the owner's.
    let elsewhere = reqwest::Client::new()
        .post(format!("{}/graphql", api.base))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&log_in("owner@example.com", "correct horse battery"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(elsewhere["data"]["logIn"]["accessToken"].is_string(), "the owner is locked out: {elsewhere:#}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let opened = attempt("correct horse battery").await;
    assert!(opened["data"]["logIn"]["accessToken"].is_string(), "the lock passes: {opened:#}");

    // Success forgot the failures; ten in a row (waiting out each lock) warn the owner.
    for n in 1..=10u32 {
        let answer = attempt("wrong password").await;
        assert_error(&answer, "UNAUTHENTICATED");
        if n > 5 && n < 10 {
            tokio::time::sleep(Duration::from_millis(1000 * (1 << (n - 6)) + 100)).await;
        }
    }
    let conn = Database::connect(&db.url).await.unwrap();
    let warned = vigie_tests::count(
        &conn,
        "SELECT COUNT(*) FROM email_outbox WHERE to_address = 'owner@example.com' AND subject LIKE '%Failed log-ins%'",
    )
    .await;
    assert_eq!(warned, 1, "one warning for the burst");
    conn.close().await.ok();
    api.stop().await;
}
in_both_modes!(failed_log_ins_slow_the_account_down);

/// Password hashing beyond `VIGIE_PASSWORD_CONCURRENCY` (and the few requests that may
/// wait for each slot) is refused with `RATE_LIMITED` rather than queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_work_is_bounded() {
    let app = TestApp::with_config(Backend::Sqlite, &[("VIGIE_PASSWORD_CONCURRENCY", "1")]).await;
    app.sign_up("Agence", "owner@example.com").await;
    let attempts = (0..12).map(|n| {
        let app = &app;
        async move {
            let email = format!("nobody{n}@example.com");
            app.gql(None, LOG_IN, json!({ "e": email, "p": "wrong password" })).await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let codes: Vec<_> = answers.iter().flat_map(vigie_tests::error_codes).collect();
    assert!(codes.iter().any(|c| c == "RATE_LIMITED"), "twelve at once over one slot and its queue of four: {codes:?}");
    assert!(codes.iter().all(|c| c == "RATE_LIMITED" || c == "UNAUTHENTICATED"), "{codes:?}");
}

/// Aggregates cannot be multiplied with aliases: `sharedReport` runs once per request,
/// and a thousand aliased series are refused before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliased_aggregates_are_refused_before_they_run() {
    let app = TestApp::new(Backend::Sqlite).await;
    let owner = app.sign_up("Agence", "owner@example.com").await;
    let brand = app.create_brand(&owner.access_token, "Verdure").await;

    let one = app.gql(None, "{ sharedReport(token: \"vgs_nope\") { brandName } }", json!({})).await;
    assert_error(&one, "NOT_FOUND");
    let two = app
        .gql(
            None,
            "{ a: sharedReport(token: \"vgs_nope\") { brandName } b: sharedReport(token: \"vgs_nope\") { brandName } }",
            json!({}),
        )
        .await;
    assert_error(&two, "QUERY_TOO_COMPLEX");
    let many: String = (0..1000).map(|n| format!("r{n}: sharedReport(token: \"vgs_{n}\") {{ brandName }} ")).collect();
    assert_error(&app.gql(None, &format!("{{ {many} }}"), json!({})).await, "QUERY_TOO_COMPLEX");

    let from = "2026-01-01T00:00:00Z";
    let to = "2026-02-01T00:00:00Z";
    for field in [
        format!("sentimentSeries(brandId: \"{brand}\", from: \"{from}\", to: \"{to}\") {{ day }}"),
        format!("slaCompliance(brandId: \"{brand}\", from: \"{from}\", to: \"{to}\") {{ from }}"),
        format!("calendarCoverage(brandId: \"{brand}\", from: \"{from}\", to: \"{to}\") {{ posts }}"),
    ] {
        let single = app.gql(Some(&owner.access_token), &format!("{{ {field} }}"), json!({})).await;
        assert!(single.get("errors").is_none(), "one aggregate is served: {single:#}");
        let aliased: String = (0..1000).map(|n| format!("a{n}: {field} ")).collect();
        let refused = app.gql(Some(&owner.access_token), &format!("{{ {aliased} }}"), json!({})).await;
        assert_error(&refused, "QUERY_TOO_COMPLEX");
    }
}

/// Requests with invented methods are counted under `OTHER`: they cannot grow the
/// metrics without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invented_methods_do_not_grow_the_metrics() {
    let (api, _db) = api(false, &[("VIGIE_RATE_LIMIT_ANONYMOUS", "off")]).await;
    let client = reqwest::Client::new();
    let metrics = || async { client.get(format!("{}/metrics", api.base)).send().await.unwrap().text().await.unwrap() };
    let before = metrics().await.len();
    for n in 0..500 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{n}").as_bytes()).unwrap();
        let _ = client.request(method, format!("{}/graphql", api.base)).send().await.unwrap();
    }
    let after = metrics().await;
    assert!(!after.contains("INVENTED"), "no label carries an invented method");
    assert!(after.contains("method=\"OTHER\""), "they are counted as OTHER");
    assert!(after.len() < before + 8 * 1024, "the metrics grew by {} bytes", after.len() - before);
    api.stop().await;
}

/// An ingest body of millions of tiny items is refused by counting them, before any is
/// parsed: 413, as for a body past 8 MiB (read only once the key is known), each in the
/// REST error shape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_counts_items_before_parsing_them() {
    let (api, _db) = api(false, &[]).await;
    let (_, _, key) = agency_with_brand(&api.base, "owner@example.com").await;
    let too_big = " ".repeat(9 << 20);
    for body in ["1\n".repeat(4_000_000), format!("[{}1]", "1,".repeat(4_000_000)), too_big] {
        let response = reqwest::Client::new()
            .post(format!("{}/ingest/mentions", api.base))
            .bearer_auth(&key)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE", "{body:#}");
    }
    api.stop().await;
}

/// Fragments that spread each other ten times over twelve levels (under a kilobyte, a
/// trillion selections unfolded) are refused at once, before validation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_fragment_spreads_are_refused_at_once() {
    let app = TestApp::new(Backend::Sqlite).await;
    let mut document = String::from("mutation { ...F0 }\n");
    for level in 0..12 {
        let spreads = format!("...F{} ", level + 1).repeat(10);
        document.push_str(&format!("fragment F{level} on Mutation {{ {spreads} }}\n"));
    }
    document.push_str("fragment F12 on Mutation { logOut(refreshToken: \"x\") }\n");
    let started = Instant::now();
    let answer = app.gql(None, &document, json!({})).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_error(&answer, "QUERY_TOO_COMPLEX");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_handles_and_value_descriptions_are_bounded() {
    let app = TestApp::new(Backend::Sqlite).await;
    let owner = app.sign_up("Bounds", "bounds@example.com").await;
    let token = Some(owner.access_token.as_str());
    const CREATE: &str = "mutation($input: CreateBrandInput!) { createBrand(input: $input) { id } }";
    let handles = |n: usize, len: usize| -> Value {
        (0..n).map(|i| json!({ "network": "MASTODON", "handle": format!("{i}{}", "h".repeat(len)) })).collect()
    };
    let brand = |handles: Value| json!({ "input": { "name": "B", "timeZone": "Europe/Paris", "handles": handles } });
    assert_error(&app.gql(token, CREATE, brand(handles(51, 5))).await, "BAD_USER_INPUT");
    assert_error(&app.gql(token, CREATE, brand(handles(1, 300))).await, "BAD_USER_INPUT");
    let created = app.ok(token, CREATE, brand(handles(50, 200))).await;
    let brand_id = created["createBrand"]["id"].as_str().unwrap().to_owned();

    const VALUE: &str = "mutation($input: CreateBrandValueInput!) { createBrandValue(input: $input) { id } }";
    let value = |description: String| json!({ "input": { "brandId": brand_id, "name": "Zéro plastique", "description": description, "keywords": ["plastique"] } });
    assert_error(&app.gql(token, VALUE, value("x".repeat(2_001))).await, "BAD_USER_INPUT");
    let made = app.ok(token, VALUE, value("é".repeat(2_000))).await;
    let update = "mutation($input: UpdateBrandValueInput!) { updateBrandValue(input: $input) { id } }";
    let long = json!({ "input": { "id": made["createBrandValue"]["id"], "description": "x".repeat(100_000) } });
    assert_error(&app.gql(token, update, long).await, "BAD_USER_INPUT");
}

/// Share links are overseen and outlive nobody: managers list them (who made them, when
/// they were last opened, when they expire), feeds expire and renew with the same URL,
/// and removing a member revokes the links and API keys they made.
async fn shares_are_listed_expire_and_leave_with_their_maker(production: bool) {
    let (api, db) = api(production, &[]).await;
    let base = api.base.clone();
    let (owner, brand, _) = agency_with_brand(&base, "owner@shares.example").await;
    let (admin, admin_member) = invite(&base, &db, &owner, "admin@shares.example", "ADMIN", &brand).await;
    let gql = |token: String, query: String| {
        let base = base.clone();
        async move { post_graphql(&base, Some(&token), &query).await }
    };
    let feed =
        gql(admin.clone(), format!("mutation {{ createCalendarShare(brandId: \"{brand}\") {{ id url expiresAt }} }}"))
            .await;
    let feed = feed["data"]["createCalendarShare"].clone();
    let expires: chrono::DateTime<chrono::Utc> = feed["expiresAt"].as_str().unwrap().parse().unwrap();
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!((89.9..=90.1).contains(&days), "a feed lives 90 days by default: {days}");
    let too_long = gql(
        admin.clone(),
        format!("mutation {{ createCalendarShare(brandId: \"{brand}\", expiresInDays: 400) {{ id }} }}"),
    )
    .await;
    assert_error(&too_long, "BAD_USER_INPUT");
    let report = gql(admin.clone(), format!("mutation {{ createReportShare(input: {{ brandId: \"{brand}\", from: \"2026-11-01T00:00:00Z\", to: \"2026-12-01T00:00:00Z\", expiresAt: \"{}\" }}) {{ id url }} }}", (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339())).await;
    let report = report["data"]["createReportShare"].clone();
    let key = gql(admin.clone(), "mutation { createApiKey(input: { name: \"admin's key\" }) { secret } }".into()).await;
    let key = key["data"]["createApiKey"]["secret"].as_str().expect("a key").to_owned();
    let owner_feed = gql(
        owner.clone(),
        format!("mutation {{ createCalendarShare(brandId: \"{brand}\", expiresInDays: 10) {{ id url }} }}"),
    )
    .await;
    let owner_feed = owner_feed["data"]["createCalendarShare"].clone();

    let http = reqwest::Client::new();
    // Links carry VIGIE_PUBLIC_URL; the test reaches the same paths on its own port.
    let local = |share: &Value, marker: &str| {
        let url = share["url"].as_str().unwrap();
        format!("{base}{}", &url[url.find(marker).unwrap()..])
    };
    let feed_url = local(&feed, "/calendar/");
    assert_eq!(http.get(&feed_url).send().await.unwrap().status(), 200);

    let list = format!(
        "{{ shares(brandId: \"{brand}\") {{ edges {{ node {{ id kind createdBy {{ email }} lastOpenedAt expiresAt active }} }} }} }}"
    );
    let listed = gql(owner.clone(), list.clone()).await;
    let nodes: Vec<Value> =
        listed["data"]["shares"]["edges"].as_array().expect("a list").iter().map(|e| e["node"].clone()).collect();
    assert_eq!(nodes.len(), 3, "{listed:#}");
    let by_id = |id: &Value| nodes.iter().find(|n| &n["id"] == id).cloned().unwrap();
    assert_eq!(by_id(&feed["id"])["createdBy"]["email"], "admin@shares.example");
    assert_eq!(by_id(&feed["id"])["kind"], "CALENDAR");
    assert!(by_id(&feed["id"])["lastOpenedAt"].is_string(), "the feed was opened");
    assert_eq!(by_id(&report["id"])["kind"], "REPORT");
    assert!(by_id(&report["id"])["lastOpenedAt"].is_null());
    // Members do not oversee shares.
    let (member, _) = invite(&base, &db, &owner, "member@shares.example", "MEMBER", &brand).await;
    assert_error(&gql(member.clone(), list.clone()).await, "FORBIDDEN");
    let renew = format!("mutation {{ renewShare(id: {}, expiresInDays: 366) {{ active }} }}", report["id"]);
    assert_error(&gql(member.clone(), renew).await, "FORBIDDEN");

    // Renewal keeps the URL; an expired feed opens nothing until renewed.
    let conn = Database::connect(&db.url).await.unwrap();
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    use vigie_domain::entities::report_share;
    let expire = |id: &str| {
        report_share::Entity::update_many()
            .col_expr(report_share::Column::ExpiresAt, Expr::value(chrono::Utc::now() - chrono::Duration::minutes(1)))
            .filter(report_share::Column::Id.eq(vigie_tests::db_id(id)))
            .exec(&conn)
    };
    expire(feed["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(http.get(&feed_url).send().await.unwrap().status(), 404);
    let renewed = gql(
        owner.clone(),
        format!("mutation {{ renewShare(id: {}, expiresInDays: 365) {{ expiresAt active }} }}", feed["id"]),
    )
    .await;
    assert_eq!(renewed["data"]["renewShare"]["active"], true, "{renewed:#}");
    assert_eq!(http.get(&feed_url).send().await.unwrap().status(), 200);
    let too_far =
        gql(owner.clone(), format!("mutation {{ renewShare(id: {}, expiresInDays: 367) {{ active }} }}", feed["id"]))
            .await;
    assert_error(&too_far, "BAD_USER_INPUT");

    // A feed made before feeds expired lives 90 days from its creation.
    report_share::Entity::update_many()
        .col_expr(report_share::Column::ExpiresAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .col_expr(report_share::Column::CreatedAt, Expr::value(chrono::Utc::now() - chrono::Duration::days(91)))
        .filter(report_share::Column::Id.eq(vigie_tests::db_id(owner_feed["id"].as_str().unwrap())))
        .exec(&conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let owner_feed_url = local(&owner_feed, "/calendar/");
    assert_eq!(http.get(&owner_feed_url).send().await.unwrap().status(), 404);

    // The admin leaves: what they made stops working, and the answer says so.
    let removed = gql(
        owner.clone(),
        format!(
            "mutation {{ removeMember(memberId: \"{admin_member}\") {{ deletedId revokedShares revokedApiKeys }} }}"
        ),
    )
    .await;
    assert_eq!(removed["data"]["removeMember"]["revokedShares"], 2, "{removed:#}");
    assert_eq!(removed["data"]["removeMember"]["revokedApiKeys"], 1, "{removed:#}");
    assert_eq!(http.get(&feed_url).send().await.unwrap().status(), 404);
    let report_url = local(&report, "/r/");
    assert_eq!(http.get(&report_url).send().await.unwrap().status(), 404);
    let pushed = http.post(format!("{base}/ingest/mentions")).bearer_auth(&key).json(&json!([])).send().await.unwrap();
    assert_eq!(pushed.status(), 401);
    let after = gql(owner.clone(), list.clone()).await;
    assert_eq!(
        after["data"]["shares"]["edges"].as_array().unwrap().len(),
        1,
        "only the owner's feed is left: {after:#}"
    );
    let all = list.replace("shares(brandId:", "shares(includeRevoked: true, brandId:");
    assert_eq!(gql(owner, all).await["data"]["shares"]["edges"].as_array().unwrap().len(), 3);
    api.stop().await;
}
in_both_modes!(shares_are_listed_expire_and_leave_with_their_maker);

/// What staff type reaches pages, spreadsheets and calendars that others open: script
/// tags, spreadsheet formulas and line breaks that would forge iCal properties all come
/// back inert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_payloads_come_back_inert() {
    let (api, _db) = api(false, &[]).await;
    let base = api.base.clone();
    let gql = |token: Option<&str>, query: &str, variables: Value| {
        let body = json!({ "query": query, "variables": variables });
        let base = base.clone();
        let token = token.map(str::to_owned);
        async move {
            let response: Value = post(&base, token.as_deref(), &body).await.json().await.unwrap();
            assert!(response.get("errors").is_none(), "{response:#}");
            response["data"].clone()
        }
    };
    let signup = "mutation { signUp(input: { agencyName: \"Payloads\", name: \"N\", email: \"p@example.com\", password: \"correct horse battery\" }) { accessToken } }";
    let token = gql(None, signup, json!({})).await["signUp"]["accessToken"].as_str().unwrap().to_owned();
    let t = Some(token.as_str());
    let script = "<script>alert(document.domain)</script>";
    let brand = gql(
        t,
        "mutation($n: String!) { createBrand(input: { name: $n, timeZone: \"Europe/Paris\" }) { id } }",
        json!({ "n": format!("Verdure {script}") }),
    )
    .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let formulas = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)"];
    let mut pillars = Vec::new();
    for (i, name) in formulas.iter().enumerate() {
        let name = if i == 0 { format!("{name}<img src=x onerror=alert(1)>") } else { (*name).to_owned() };
        let made = gql(t, "mutation($b: ID!, $n: String!) { createCsrPillar(input: { brandId: $b, name: $n, targetShare: 0.2 }) { id } }", json!({ "b": brand, "n": name })).await;
        pillars.push(made["createCsrPillar"]["id"].as_str().unwrap().to_owned());
    }
    let injected = "Launch\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:Injected\r\nURL:http://evil.example";
    let item = gql(t, "mutation($b: ID!, $title: String!, $body: String!, $p: [ID!]!) { createContentItem(input: { brandId: $b, channel: \"instagram\", title: $title, body: $body, scheduledAt: \"2027-01-04T10:00:00Z\", pillarIds: $p }) { id } }",
        json!({ "b": brand, "title": injected, "body": format!("{script}\rDTSTART:19700101T000000Z"), "p": pillars })).await;
    gql(
        t,
        "mutation($id: ID!) { submitContentItem(id: $id) { id } }",
        json!({ "id": item["createContentItem"]["id"] }),
    )
    .await;

    let now = chrono::Utc::now();
    let report = gql(t, "mutation($b: ID!, $from: DateTime!, $to: DateTime!, $e: DateTime!) { createReportShare(input: { brandId: $b, from: $from, to: $to, expiresAt: $e }) { url } }",
        json!({ "b": brand, "from": (now - chrono::Duration::days(30)).to_rfc3339(), "to": (now + chrono::Duration::days(60)).to_rfc3339(), "e": (now + chrono::Duration::days(7)).to_rfc3339() })).await;
    let url = report["createReportShare"]["url"].as_str().unwrap();
    let path = &url[url.find("/r/").unwrap()..];
    let http = reqwest::Client::new();
    let page = http.get(format!("{base}{path}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script") && !html.contains("<img"), "markup from input reached the page");
    assert!(html.contains("&lt;script&gt;"), "the brand's name is shown, escaped");

    let csv = http.get(format!("{base}{path}/csr.csv")).send().await.unwrap().text().await.unwrap();
    let cells: Vec<&str> = csv.lines().skip(1).map(|line| line.trim_start_matches('"')).collect();
    assert_eq!(cells.len(), formulas.len(), "{csv}");
    for cell in cells {
        assert!(cell.starts_with('\''), "a formula reached the spreadsheet: {cell}");
    }

    let feed = gql(t, "mutation($b: ID!) { createCalendarShare(brandId: $b) { url } }", json!({ "b": brand })).await;
    let url = feed["createCalendarShare"]["url"].as_str().unwrap();
    let ics = http
        .get(format!("{base}{}", &url[url.find("/calendar/").unwrap()..]))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = ics.split("\r\n").collect();
    assert_eq!(lines.iter().filter(|l| **l == "BEGIN:VEVENT").count(), 1, "{ics}");
    for forged in ["SUMMARY:Injected", "URL:http://evil.example", "DTSTART:19700101T000000Z"] {
        assert!(!lines.contains(&forged), "a forged property: {ics}");
    }
    assert!(ics.lines().all(|l| !l.contains('\r')), "a lone CR in the feed: {ics:?}");
    api.stop().await;
}

/// With Redis down the limiter cannot count: credential mutations are refused
/// (anonymous or not), everything else is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_fail_closed_when_the_limiter_is_down() {
    let mut redis = vigie_tests::redis_server::RedisServer::start();
    let url = redis.url();
    let db = TestDb::new(Backend::Postgres).await;
    let api = ApiServer::start(Arc::new(test_config(&db, &[("REDIS_URL", &url)]))).await;
    let base = api.base.clone();
    let (token, _, _) = agency_with_brand(&base, "owner@down.example").await;
    redis.stop();

    let log_in_body = log_in("owner@down.example", "correct horse battery");
    let anonymous = post(&base, None, &log_in_body).await;
    assert_eq!(anonymous.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_error(&anonymous.json::<Value>().await.unwrap(), "UNAVAILABLE");
    let with_token = post(&base, Some(&token), &log_in_body).await.json::<Value>().await.unwrap();
    assert_error(&with_token, "UNAVAILABLE");
    let signup = json!({ "query": "mutation { signUp(input: { agencyName: \"X\", name: \"N\", email: \"x@down.example\", password: \"correct horse battery\" }) { accessToken } }" });
    assert_error(&post(&base, None, &signup).await.json::<Value>().await.unwrap(), "UNAVAILABLE");

    let mut socket = Subscription::connect(&base, None).await;
    let over_socket = run(&mut socket, "1", signup["query"].as_str().unwrap()).await;
    assert!(over_socket.to_string().contains("\"UNAVAILABLE\""), "{over_socket:#}");

    // The rest goes on: an anonymous shared report, an authenticated query.
    let report = post(&base, None, &json!({ "query": "{ sharedReport(token: \"vgs_unknown\") { brandName } }" })).await;
    assert_error(&report.json::<Value>().await.unwrap(), "NOT_FOUND");
    let me = post(&base, Some(&token), &json!({ "query": "{ me { role } }" })).await.json::<Value>().await.unwrap();
    assert_eq!(me["data"]["me"]["role"], "OWNER", "{me:#}");
    api.stop().await;
}

/// Losing a brand or a role revokes what the member handed out beyond their new access:
/// feeds of brands they no longer see, API keys once they no longer manage the agency.
async fn losing_access_revokes_what_it_handed_out(production: bool) {
    let (api, db) = api(production, &[]).await;
    let base = api.base.clone();
    let (owner, brand, _) = agency_with_brand(&base, "owner@loss.example").await;
    let other = post_graphql(
        &base,
        Some(&owner),
        "mutation { createBrand(input: { name: \"Autre\", timeZone: \"Europe/Paris\" }) { id } }",
    )
    .await["data"]["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, admin_id) = invite(&base, &db, &owner, "admin@loss.example", "ADMIN", &brand).await;
    let (member, member_id) = invite(&base, &db, &owner, "member@loss.example", "MEMBER", &brand).await;
    let feed = |token: String, brand: String| {
        let base = base.clone();
        async move {
            let made = post_graphql(
                &base,
                Some(&token),
                &format!("mutation {{ createCalendarShare(brandId: \"{brand}\") {{ url }} }}"),
            )
            .await;
            let url = made["data"]["createCalendarShare"]["url"].as_str().expect("a feed").to_owned();
            format!("{base}{}", &url[url.find("/calendar/").unwrap()..])
        }
    };
    let http = reqwest::Client::new();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status() }
    };
    let member_feed = feed(member.clone(), brand.clone()).await;
    let admin_feed = feed(admin.clone(), other.clone()).await;
    let key =
        post_graphql(&base, Some(&admin), "mutation { createApiKey(input: { name: \"admin's key\" }) { secret } }")
            .await;
    let key = key["data"]["createApiKey"]["secret"].as_str().expect("a key").to_owned();
    let push = |key: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.post(format!("{base}/ingest/mentions"))
                .bearer_auth(key)
                .json(&json!([]))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(status(member_feed.clone()).await, StatusCode::OK);
    assert_ne!(push(key.clone()).await, StatusCode::UNAUTHORIZED);

    // The member moves to the other brand: the feed of the first one stops.
    let moved = format!("mutation {{ setMemberBrands(memberId: \"{member_id}\", brandIds: [\"{other}\"]) {{ id }} }}");
    assert!(post_graphql(&base, Some(&owner), &moved).await.get("errors").is_none());
    assert_eq!(status(member_feed).await, StatusCode::NOT_FOUND);

    // The admin becomes a member of the first brand: their key stops, and so does their
    // feed of the brand they no longer see.
    let demoted = format!("mutation {{ updateMemberRole(memberId: \"{admin_id}\", role: MEMBER) {{ id }} }}");
    assert!(post_graphql(&base, Some(&owner), &demoted).await.get("errors").is_none());
    assert_eq!(push(key).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status(admin_feed).await, StatusCode::NOT_FOUND);
    api.stop().await;
}
in_both_modes!(losing_access_revokes_what_it_handed_out);

/// Every answer names its request (`X-Request-Id`, the caller's when it is a plain
/// token, else a new one) and every request but the probes leaves one access-log line
/// at `info` with its route pattern, status, duration and id — never a token, neither
/// the bearer nor one in the path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_logged_by_id_without_secrets() {
    let db = TestDb::new(Backend::Sqlite).await;
    let log = db.dir().join("api.log");
    let env = [("VIGIE_LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    let (mut child, addr) = api_process(&db, &env, std::fs::File::create(&log).unwrap().into()).await;
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();

    let probe = client.get(format!("{base}/healthz")).header("x-request-id", "lb-probe-7").send().await.unwrap();
    assert_eq!(probe.headers()["x-request-id"], "lb-probe-7");
    let bearer = "Bearer eyJ.secret-bearer-token.sig";
    let query = client
        .post(format!("{base}/graphql"))
        .header("authorization", bearer)
        .header("x-request-id", "req-42")
        .json(&json!({ "query": "query Typename { __typename }", "operationName": "Typename" }))
        .send()
        .await
        .unwrap();
    assert_eq!(query.headers()["x-request-id"], "req-42");
    let signed = vigie_tests::post_graphql(
        &base,
        None,
        "mutation { signUp(input: { agencyName: \"Logs\", name: \"O\", email: \"o@logs.example\", password: \"correct horse battery\" }) { accessToken } }",
    )
    .await;
    let token = signed["data"]["signUp"]["accessToken"].as_str().expect("signed up").to_owned();
    let named = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .header("x-request-id", "req-43")
        .json(&json!({ "query": "query Me { me { user { email } } }", "operationName": "Me" }))
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), 200);
    let report =
        client.get(format!("{base}/r/secret-share-token")).header("x-request-id", "bad id\t!").send().await.unwrap();
    let generated = report.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(generated.len() == 32 && generated.bytes().all(|b| b.is_ascii_hexdigit()), "{generated}");

    let lines = vigie_tests::eventually("the access log lines", Duration::from_secs(10), async || {
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<String> =
            text.lines().filter(|l| l.contains("\"message\":\"request\"")).map(str::to_owned).collect();
        if lines.iter().any(|l| l.contains(&generated)) { Ok(lines) } else { Err(text) }
    })
    .await;
    let graphql = lines.iter().find(|l| l.contains("req-42")).expect("the GraphQL request's line");
    for field in [
        "\"level\":\"INFO\"",
        "\"route\":\"/graphql\"",
        "\"status\":200",
        "duration_ms",
        "\"operation\":\"anonymous\"",
        "\"method\":\"POST\"",
    ] {
        assert!(graphql.contains(field), "{field} in {graphql}");
    }
    // A signed-in caller's operation is named; an anonymous one's is not (above).
    let me = lines.iter().find(|l| l.contains("req-43")).expect("the signed-in request's line");
    assert!(me.contains("\"operation\":\"Me\""), "{me}");
    assert!(!all_text(&log).contains(&token), "the access token in the log");
    let shared = lines.iter().find(|l| l.contains(&generated)).unwrap();
    assert!(shared.contains("\"route\":\"/r/{token}\"") && shared.contains("\"status\":404"), "{shared}");
    assert!(!lines.iter().any(|l| l.contains("lb-probe-7")), "probes stay at debug");
    let all = all_text(&log);
    assert!(!all.contains("secret-bearer-token") && !all.contains("secret-share-token"), "a secret in the log");
    child.0[0].kill().unwrap();
}

fn all_text(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// The api as its own process over `db` (embedded mode, no demo), with `env` on top,
/// its output to `stdout`; returns it and its address once it answers.
async fn api_process(db: &TestDb, env: &[(&str, &str)], stdout: std::process::Stdio) -> (vigie_tests::Workers, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_vigie-api-under-test"))
        .env("DATABASE_URL", &db.url)
        .env("VIGIE_DATA_DIR", db.dir())
        .env("VIGIE_JWT_SECRET", vigie_tests::TEST_JWT_SECRET)
        .env("VIGIE_DEMO", "false")
        .env("VIGIE_BIND", &addr)
        .envs(env.iter().copied())
        .stdout(stdout)
        .spawn()
        .expect("the api starts");
    let client = reqwest::Client::new();
    let up = async || client.get(format!("http://{addr}/healthz")).send().await.is_ok();
    vigie_tests::until("the api to come up", Duration::from_secs(30), up).await;
    (vigie_tests::Workers(vec![child]), addr)
}
