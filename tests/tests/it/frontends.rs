//! The API as front-end tools meet it: the standard introspection query, bounded
//! introspection that cannot smuggle a costly query past the limits.

use serde_json::{Value, json};
use std::sync::Arc;
use vigie_tests::{ApiServer, Backend, TestApp, TestDb, assert_error, on_both_databases, redis_url, test_config};

/// The exact text of graphql-js 16.15.0's `getIntrospectionQuery()` with every option on
/// (`descriptions`, `specifiedByUrl`, `directiveIsRepeatable`, `schemaDescription`,
/// `inputValueDeprecation`, `oneOf`), as GraphiQL, Apollo, Relay and graphql-codegen
/// send it; printed by `node -e "console.log(require('graphql').getIntrospectionQuery({…}))"`.
const GRAPHQL_JS_INTROSPECTION: &str = include_str!("../../fixtures/graphql-js-introspection.graphql");

/// A selection nested `levels` deep (field names do not matter: the limits are
/// measured before the fields are resolved).
fn nested(levels: usize) -> String {
    format!("{}id{}", "a { ".repeat(levels), " }".repeat(levels))
}

async fn the_standard_introspection_query_is_answered(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    let owner = app.sign_up("A", "a@example.com").await;
    for token in [None, Some(owner.access_token.as_str())] {
        let response = app.gql(token, GRAPHQL_JS_INTROSPECTION, json!({})).await;
        assert!(response.get("errors").is_none(), "{response:#}");
        let schema = &response["data"]["__schema"];
        assert_eq!(schema["queryType"]["name"], "Query");
        assert_eq!(schema["subscriptionType"]["name"], "Subscription");
        let types = schema["types"].as_array().expect("types");
        let query = types.iter().find(|t| t["name"] == "Query").expect("Query");
        let fields: Vec<&str> = query["fields"].as_array().unwrap().iter().filter_map(|f| f["name"].as_str()).collect();
        assert!(fields.contains(&"brands") && fields.contains(&"me"), "{fields:?}");
        // The deepest wrapping the schema has is read whole: `[X!]!`.
        let non_null_lists = types
            .iter()
            .flat_map(|t| t["fields"].as_array().cloned().unwrap_or_default())
            .filter(|f| f["type"]["kind"] == "NON_NULL" && f["type"]["ofType"]["kind"] == "LIST")
            .count();
        assert!(non_null_lists > 0);
    }
}
on_both_databases!(the_standard_introspection_query_is_answered);

async fn introspection_cannot_smuggle_a_costly_query(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    let owner = app.sign_up("A", "a@example.com").await;
    let token = Some(owner.access_token.as_str());
    let operation = GRAPHQL_JS_INTROSPECTION.replacen("__schema {", &format!("deep: {} __schema {{", nested(13)), 1);
    assert_error(&app.gql(token, &operation, json!({})).await, "QUERY_TOO_COMPLEX");
    // The same depth alone, and within the limit beside the introspection.
    assert_error(&app.gql(token, &format!("{{ {} }}", nested(13)), json!({})).await, "QUERY_TOO_COMPLEX");
    let costly: String = (0..30)
        .map(|i| format!("b{i}: brands(first: 100) {{ edges {{ node {{ name values {{ name }} }} }} }} "))
        .collect();
    let operation = GRAPHQL_JS_INTROSPECTION.replacen("__schema {", &format!("{costly} __schema {{"), 1);
    assert_error(&app.gql(token, &operation, json!({})).await, "QUERY_TOO_COMPLEX");
    // Through a fragment on the root type, and in a document of several operations.
    let spread =
        format!("query Q {{ ...Root }} fragment Root on Query {{ __schema {{ description }} {} }}", nested(13));
    assert_error(&app.gql(token, &spread, json!({})).await, "QUERY_TOO_COMPLEX");

    // Words of the limits' messages elsewhere in a document are not a limit.
    let named = "query($recursion: String!) { __type(name: $recursion) { name } }";
    let typed = app.gql(token, named, json!({ "recursion": "Brand" })).await;
    assert_eq!(typed["data"]["__type"]["name"], "Brand", "{typed}");

    let fine = app.gql(token, "{ me { role } __schema { queryType { name } } }", json!({})).await;
    assert!(fine.get("errors").is_none(), "{fine:#}");
    assert_eq!(fine["data"]["me"]["role"], "OWNER");
    assert_eq!(fine["data"]["__schema"]["queryType"]["name"], "Query");
}
on_both_databases!(introspection_cannot_smuggle_a_costly_query);

async fn introspection_has_bounds_of_its_own(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    // Lists within lists multiply the answer by the schema's size each time.
    let lists = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    assert_error(&app.gql(None, lists, json!({})).await, "QUERY_TOO_COMPLEX");
    let through_fragments = "{ __type(name: \"Brand\") { ...F } } \
        fragment F on __Type { fields { type { interfaces { possibleTypes { name } } } } }";
    assert_error(&app.gql(None, through_fragments, json!({})).await, "QUERY_TOO_COMPLEX");
    // Aliases repeat the whole schema: bounded by the selections they add up to.
    let aliases: String = (0..600).map(|i| format!("t{i}: types {{ name }} ")).collect();
    assert_error(&app.gql(None, &format!("{{ __schema {{ {aliases} }} }}"), json!({})).await, "QUERY_TOO_COMPLEX");
    // A fragment that spreads itself ends at the bound, not in a stack overflow.
    let cycle = "{ __schema { types { ...T } } } fragment T on __Type { name ...T }";
    let refused = app.gql(None, cycle, json!({})).await;
    assert!(refused["errors"].as_array().is_some_and(|errors| !errors.is_empty()), "{refused:#}");
    // `ofType` chains are cheap and read whole; two lists nest.
    let wrapped = format!("{{ __schema {{ types {{ fields {{ type {{ {} }} }} }} }} }}", nested_of_type(20));
    let answered = app.gql(None, &wrapped, json!({})).await;
    assert!(answered.get("errors").is_none(), "{answered:#}");

    let off = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "false")]).await;
    let response: Value = off.gql(None, GRAPHQL_JS_INTROSPECTION, json!({})).await;
    assert_error(&response, "FORBIDDEN");
}
on_both_databases!(introspection_has_bounds_of_its_own);

fn nested_of_type(levels: usize) -> String {
    format!("{}name{}", "ofType { name ".repeat(levels), " }".repeat(levels))
}

async fn objects_are_fetched_again_by_their_global_id(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("A", "a@example.com").await;
    let token = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;

    let found = app
        .ok(token, "query($id: ID!) { node(id: $id) { __typename id ... on Brand { name } } }", json!({ "id": brand }))
        .await;
    assert_eq!(found["node"], json!({ "__typename": "Brand", "id": brand, "name": "Verdure" }));
    // The bare UUID that ids were before still works where an id is an argument.
    let raw = vigie_tests::db_id(&brand).to_string();
    let typed = app.ok(token, "query($id: ID!) { brand(id: $id) { id } }", json!({ "id": raw })).await;
    assert_eq!(typed["brand"]["id"], brand.as_str());
    // `node` needs the global id, which names the type.
    assert_error(
        &app.gql(token, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": raw })).await,
        "BAD_USER_INPUT",
    );
    // A global id of another kind finds nothing, typed or not.
    let as_alert = vigie_tests::global_id(vigie_tests::NodeKind::Alert, vigie_tests::db_id(&brand)).0;
    let missing = app.ok(token, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": as_alert })).await;
    assert_eq!(missing["node"], Value::Null);
    assert_error(
        &app.gql(token, "query($id: ID!) { alert(id: $id) { id } }", json!({ "id": as_alert })).await,
        "NOT_FOUND",
    );

    let both =
        app.ok(token, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": [brand, as_alert] })).await;
    assert_eq!(both["nodes"], json!([{ "id": brand }, null]));
    let too_many: Vec<&str> = vec![brand.as_str(); 101];
    assert_error(
        &app.gql(token, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": too_many })).await,
        "BAD_USER_INPUT",
    );
    assert_error(
        &app.gql(None, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": brand })).await,
        "UNAUTHENTICATED",
    );
}
on_both_databases!(objects_are_fetched_again_by_their_global_id);

/// Apollo's automatic persisted queries, exchange by exchange as `@apollo/client`'s
/// persisted-query link makes them: the hash alone (unknown), the hash with the text
/// (registered once it ran), then the hash alone again, over POST and over GET;
/// registered by a signed-in client with one replica and known to another through
/// Redis.
async fn persisted_queries_follow_apollos_protocol(backend: Backend) {
    let db = TestDb::new(backend).await;
    let redis = redis_url();
    let config = Arc::new(test_config(&db, &[("REDIS_URL", &redis)]));
    let (first, second) = (ApiServer::start(config.clone()).await, ApiServer::start(config).await);
    let http = reqwest::Client::new();
    let signed_up = vigie_tests::post_graphql(
        &first.base,
        None,
        "mutation { signUp(input: { agencyName: \"A\", name: \"A\", email: \"a@example.com\", password: \"correct horse battery\" }) { accessToken } }",
    )
    .await;
    let token = signed_up["data"]["signUp"]["accessToken"].as_str().expect("signed up").to_owned();
    let post = |base: &str, body: Value, signed_in: bool| {
        let mut request = http.post(format!("{base}/graphql")).json(&body);
        if signed_in {
            request = request.bearer_auth(&token);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let apq =
        |query: &str| json!({ "persistedQuery": { "version": 1, "sha256Hash": vigie_domain::sha256_hex(query) } });
    let query = "query Role { me { role } }";
    let extensions = apq(query);
    let role = json!({ "data": { "me": { "role": "OWNER" } } });

    let hash_only = json!({ "operationName": "Role", "extensions": extensions });
    let (status, unknown) = post(&first.base, hash_only.clone(), true).await;
    assert_eq!(status, 200);
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound", "{unknown}");
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");

    let body = json!({ "operationName": "Role", "query": query, "extensions": extensions });
    assert_eq!(post(&first.base, body, true).await, (200, role.clone()));
    assert_eq!(post(&first.base, hash_only.clone(), true).await.1, role);
    // Another replica knows it through Redis.
    assert_eq!(post(&second.base, hash_only.clone(), true).await.1, role);

    // GET, as the link sends queries with `useGETForHashedQueries`.
    let url = format!("{}/graphql", second.base);
    let params = [("operationName", "Role".to_owned()), ("extensions", extensions.to_string())];
    let got = http.get(&url).bearer_auth(&token).query(&params).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.headers().get("vary").is_some_and(|v| v == "Authorization"));
    assert_eq!(got.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("private, no-store"));
    assert_eq!(got.json::<Value>().await.unwrap(), role);
    // A document of several operations, one picked by `operationName`.
    let several = [("query", "query A { __typename } query B { me { role } }"), ("operationName", "B")];
    let picked = http.get(&url).bearer_auth(&token).query(&several).send().await.unwrap();
    assert_eq!(picked.json::<Value>().await.unwrap(), role);
    // Anonymous answers are not for caches either, unless a field says so.
    let anonymous = http.get(&url).query(&[("query", "{ __typename }")]).send().await.unwrap();
    assert_eq!(anonymous.headers().get("cache-control").map(|v| v.to_str().unwrap()), Some("private, no-store"));
    // A link cannot change anything, even beside a query.
    for mutation in [
        "mutation { createBrand(input: { name: \"Via GET\", timeZone: \"Europe/Paris\" }) { id } }",
        "query Q { __typename } mutation M { createBrand(input: { name: \"Via GET\", timeZone: \"Europe/Paris\" }) { id } }",
    ] {
        let refused = http.get(&url).bearer_auth(&token).query(&[("query", mutation), ("operationName", "M")]);
        let refused = refused.send().await.unwrap();
        assert_eq!(refused.status(), 405);
        let refused = refused.json::<Value>().await.unwrap();
        assert_eq!(refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{refused}");
    }
    let brands = http.get(&url).bearer_auth(&token).query(&[("query", "{ brands { edges { node { id } } } }")]).send();
    assert_eq!(brands.await.unwrap().json::<Value>().await.unwrap()["data"]["brands"]["edges"], json!([]));

    // Only what ran is kept: a query that does not validate, a mutation, and what an
    // anonymous client registers stay out of Redis.
    let invalid = "query Invalid { noSuchField }";
    let (_, failed) = post(&first.base, json!({ "query": invalid, "extensions": apq(invalid) }), true).await;
    assert_eq!(failed["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{failed}");
    let (_, unknown) = post(&first.base, json!({ "extensions": apq(invalid) }), true).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    let mutation = "mutation Out { logOut(refreshToken: \"vgr_nothing\") }";
    post(&first.base, json!({ "query": mutation, "extensions": apq(mutation) }), true).await;
    let (_, unknown) = post(&second.base, json!({ "extensions": apq(mutation) }), true).await;
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND");
    let anonymous = "query Anonymous { __typename }";
    let (_, ran) = post(&first.base, json!({ "query": anonymous, "extensions": apq(anonymous) }), false).await;
    assert_eq!(ran, json!({ "data": { "__typename": "Query" } }));
    assert_eq!(post(&first.base, json!({ "extensions": apq(anonymous) }), false).await.1, ran, "kept here");
    let (_, elsewhere) = post(&second.base, json!({ "extensions": apq(anonymous) }), false).await;
    assert_eq!(elsewhere["errors"][0]["extensions"]["code"], "PERSISTED_QUERY_NOT_FOUND", "not shared");

    // A hash that is not the text's, a version that does not exist, a malformed hash.
    let (_, mismatch) = post(&first.base, json!({ "query": query, "extensions": apq("{ me { role } }") }), true).await;
    assert_eq!(mismatch["errors"][0]["message"], "provided sha does not match query");
    assert_eq!(mismatch["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let v2 = json!({ "persistedQuery": { "version": 2, "sha256Hash": vigie_domain::sha256_hex(query) } });
    let (_, unsupported) = post(&first.base, json!({ "extensions": v2 }), true).await;
    assert_eq!(unsupported["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{unsupported}");
    let short = json!({ "persistedQuery": { "version": 1, "sha256Hash": "abc" } });
    let (_, malformed) = post(&first.base, json!({ "extensions": short }), true).await;
    assert_eq!(malformed["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{malformed}");
    first.stop().await;
    second.stop().await;
}
on_both_databases!(persisted_queries_follow_apollos_protocol);

/// GraphiQL as a front-end developer opens it, on a machine with no network but
/// loopback: its code comes from the server, its docs explorer lists the schema (from
/// the standard introspection query), and it runs a query with a token.
async fn graphiql_works_offline(backend: Backend) {
    assert!(vigie_api::graphiql::offline(), "this build of vigie-api loads GraphiQL from a CDN (see api/build.rs)");
    let server = vigie_tests::serve(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    let signed_up = vigie_tests::post_graphql(
        &server.base,
        None,
        "mutation { signUp(input: { agencyName: \"A\", name: \"A\", email: \"a@example.com\", password: \"correct horse battery\" }) { accessToken } }",
    )
    .await;
    let token = signed_up["data"]["signUp"]["accessToken"].as_str().expect("signed up").to_owned();
    let page = reqwest::get(format!("{}/graphql", server.base)).await.unwrap();
    let policy = page.headers().get("content-security-policy").expect("a policy").to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe"), "{policy}");

    let mut browser = vigie_tests::browser::Browser::open(&format!("{}/graphql", server.base)).await;
    browser
        .wait_for("document.querySelector('.graphiql-container .graphiql-query-editor .CodeMirror') !== null", 30)
        .await;
    // The docs explorer lists the root types once the schema is in, then Query's fields.
    browser.eval("document.querySelector('[aria-label=\"Show Documentation Explorer\"]').click()").await;
    let query_type = "[...document.querySelectorAll('.graphiql-doc-explorer a')].find(a => a.textContent === 'Query')";
    browser.wait_for(&format!("{query_type} !== undefined"), 30).await;
    browser.eval(&format!("{query_type}.click()")).await;
    let fields = browser
        .wait_for(
            "[...document.querySelectorAll('.graphiql-doc-explorer-field-name')].map(a => a.textContent).join(' ')",
            10,
        )
        .await;
    let fields = fields.as_str().unwrap().to_owned();
    assert!(fields.split(' ').any(|f| f == "brands") && fields.split(' ').any(|f| f == "me"), "{fields}");

    // The query and the token go in through the editors, as a person would type them.
    let editors = "document.querySelectorAll('.graphiql-editors .CodeMirror')";
    browser.eval(&format!("{editors}[0].CodeMirror.setValue('{{ me {{ role }} }}')")).await;
    browser.eval("[...document.querySelectorAll('.graphiql-editor-tools button')].find(b => b.textContent === 'Headers').click()").await;
    let headers = json!({ "Authorization": format!("Bearer {token}") }).to_string();
    let set_headers = format!("[...{editors}].at(-1).CodeMirror.setValue({})", json!(headers));
    browser.wait_for(&format!("{editors}.length >= 3"), 10).await;
    browser.eval(&set_headers).await;
    browser.eval("document.querySelector('.graphiql-execute-button').click()").await;
    let answer = browser
        .wait_for("(document.querySelector('.result-window .CodeMirror') || {CodeMirror: {getValue: () => ''}}).CodeMirror.getValue()", 20)
        .await;
    let answer: Value = serde_json::from_str(answer.as_str().unwrap()).expect("a JSON answer");
    assert_eq!(answer, json!({ "data": { "me": { "role": "OWNER" } } }));
    assert_eq!(browser.eval("window.cspViolations").await, json!([]), "the page loaded nothing it may not");
    // Nothing from elsewhere gets in: the policy and the browser's network refuse it.
    let outside = browser.eval("fetch('https://unpkg.com/graphiql').then(() => 'reached', () => 'cut off')").await;
    assert_eq!(outside, "cut off");
    drop(browser);
    server.stop().await;
}
on_both_databases!(graphiql_works_offline);

/// graphql-js, the library under GraphiQL, Apollo, Relay and graphql-codegen, reads a
/// running Vigie's schema by introspection and finds `schema.graphql`
/// (`clients/typescript/scripts/introspect.mjs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graphql_client_library_reads_the_schema() {
    let client = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/typescript");
    if !client.join("node_modules/graphql").is_dir() {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&client)
            .status()
            .expect("npm (tests/run installs it)");
        assert!(installed.success(), "npm ci in clients/typescript");
    }
    let server = vigie_tests::serve(Backend::Sqlite, &[("VIGIE_INTROSPECTION", "true")]).await;
    let url = format!("{}/graphql", server.base);
    let read = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args(["scripts/introspect.mjs", &url, "../../schema.graphql"])
            .current_dir(&client)
            .output()
            .expect("node")
    })
    .await
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&read.stdout), String::from_utf8_lossy(&read.stderr));
    assert!(read.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("as ../../schema.graphql"), "{stdout}");
    server.stop().await;
}
