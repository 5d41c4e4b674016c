//! The API as front-end tools meet it: the standard introspection query, bounded
//! introspection that cannot smuggle a costly query past the limits.

use serde_json::{Value, json};
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};

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
