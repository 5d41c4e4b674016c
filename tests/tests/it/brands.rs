//! Brands and brand values: CRUD, validation, keyset pagination, role rules.

use serde_json::json;
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};

const CREATE: &str = "mutation($input: CreateBrandInput!) { createBrand(input: $input) { id name sector trackedKeywords handles { network handle } timeZone language } }";
const UPDATE: &str =
    "mutation($input: UpdateBrandInput!) { updateBrand(input: $input) { id name sector timeZone trackedKeywords } }";
const CREATE_VALUE: &str =
    "mutation($input: CreateBrandValueInput!) { createBrandValue(input: $input) { id name keywords } }";

async fn brand_and_value_crud(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = Some(owner.access_token.as_str());
    let created = app
        .ok(
            t,
            CREATE,
            json!({ "input": {
            "name": "  Verdure ", "sector": "cosmetics", "timeZone": "Europe/Paris", "language": "fr",
            "trackedKeywords": ["verdure", "Verdure", " #verdure "],
            "handles": [{ "network": "INSTAGRAM", "handle": "@verdure" }]
        } }),
        )
        .await;
    let brand = &created["createBrand"];
    assert_eq!(brand["name"], "Verdure");
    assert_eq!(brand["trackedKeywords"], json!(["verdure", "#verdure"]));
    assert_eq!(brand["handles"], json!([{ "network": "INSTAGRAM", "handle": "verdure" }]));
    let id = brand["id"].as_str().unwrap();

    let updated = app
        .ok(
            t,
            UPDATE,
            json!({ "input": { "id": id, "name": "Verdure Paris", "sector": null, "timeZone": "America/Montreal" } }),
        )
        .await;
    assert_eq!(updated["updateBrand"]["name"], "Verdure Paris");
    assert!(updated["updateBrand"]["sector"].is_null());
    assert_eq!(
        updated["updateBrand"]["trackedKeywords"],
        json!(["verdure", "#verdure"]),
        "omitted fields are unchanged"
    );

    let value = app
        .ok(
            t,
            CREATE_VALUE,
            json!({ "input": { "brandId": id, "name": "Zéro plastique", "keywords": ["plastique", "plastic"] } }),
        )
        .await;
    let value_id = value["createBrandValue"]["id"].as_str().unwrap();
    let edited = app
        .ok(t, "mutation($input: UpdateBrandValueInput!) { updateBrandValue(input: $input) { name keywords description } }",
            json!({ "input": { "id": value_id, "keywords": ["emballage"], "description": "Sans plastique" } }))
        .await;
    assert_eq!(edited["updateBrandValue"]["keywords"], json!(["emballage"]));
    let read =
        app.ok(t, "query($id: ID!) { brand(id: $id) { values { name description } } }", json!({ "id": id })).await;
    assert_eq!(read["brand"]["values"], json!([{ "name": "Zéro plastique", "description": "Sans plastique" }]));

    app.ok(t, "mutation($id: ID!) { deleteBrandValue(id: $id) { deletedId } }", json!({ "id": value_id })).await;
    app.ok(t, CREATE_VALUE, json!({ "input": { "brandId": id, "name": "Again", "keywords": ["x"] } })).await;
    let deleted = app.ok(t, "mutation($id: ID!) { deleteBrand(id: $id) { deletedId } }", json!({ "id": id })).await;
    assert_eq!(deleted["deleteBrand"]["deletedId"], id);
    assert_error(&app.gql(t, "query($id: ID!) { brand(id: $id) { id } }", json!({ "id": id })).await, "NOT_FOUND");
}
on_both_databases!(brand_and_value_crud);

async fn bad_brand_input_is_typed_and_changes_nothing(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = Some(owner.access_token.as_str());
    let id = app.create_brand(&owner.access_token, "Taken").await;
    let cases = [
        (json!({ "name": "", "timeZone": "Europe/Paris" }), "BAD_USER_INPUT", "name"),
        (json!({ "name": "Ok", "timeZone": "Mars/Olympus_Mons" }), "BAD_USER_INPUT", "timeZone"),
        (json!({ "name": "Ok", "timeZone": "UTC", "language": "de" }), "BAD_USER_INPUT", "language"),
        (
            json!({ "name": "Ok", "timeZone": "UTC", "trackedKeywords": ["x".repeat(101)] }),
            "BAD_USER_INPUT",
            "trackedKeywords",
        ),
    ];
    for (input, code, field) in cases {
        let response = app.gql(t, CREATE, json!({ "input": input })).await;
        assert_error(&response, code);
        assert_eq!(response["errors"][0]["extensions"]["field"], field);
    }
    assert_error(&app.gql(t, CREATE, json!({ "input": { "name": "Taken", "timeZone": "UTC" } })).await, "CONFLICT");
    // PostgreSQL refuses NUL in JSON columns as in text: bad input, not a server fault.
    let nul = json!({ "name": "Nul", "timeZone": "UTC", "handles": [{ "network": "MASTODON", "handle": "a\u{0}b" }] });
    let created = app.gql(t, CREATE, json!({ "input": nul })).await;
    if backend == Backend::Postgres {
        assert_error(&created, "BAD_USER_INPUT");
    } else {
        assert!(created["errors"].is_null(), "{created}");
        let id = created["data"]["createBrand"]["id"].clone();
        app.ok(t, "mutation($id: ID!) { deleteBrand(id: $id) { deletedId } }", json!({ "id": id })).await;
    }
    assert_error(
        &app.gql(t, UPDATE, json!({ "input": { "id": id, "timeZone": "Nowhere/Land" } })).await,
        "BAD_USER_INPUT",
    );
    assert_error(&app.gql(t, UPDATE, json!({ "input": { "id": "not-a-uuid" } })).await, "BAD_USER_INPUT");
    assert_error(
        &app.gql(t, CREATE_VALUE, json!({ "input": { "brandId": id, "name": "V", "keywords": [" "] } })).await,
        "BAD_USER_INPUT",
    );
    let list = app.ok(t, "{ brands { edges { node { name timeZone } } } }", json!({})).await;
    assert_eq!(list["brands"]["edges"], json!([{ "node": { "name": "Taken", "timeZone": "Europe/Paris" } }]));
}
on_both_databases!(bad_brand_input_is_typed_and_changes_nothing);

async fn brands_paginate_with_opaque_cursors(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    for i in 0..5 {
        app.create_brand(&owner.access_token, &format!("Brand {i}")).await;
    }
    let query = "query($after: String) { brands(first: 2, after: $after) { edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut after = serde_json::Value::Null;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let data = app.ok(Some(&owner.access_token), query, json!({ "after": after })).await;
        let page = &data["brands"];
        pages += 1;
        for edge in page["edges"].as_array().unwrap() {
            names.push(edge["node"]["name"].as_str().unwrap().to_owned());
        }
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(names, (0..5).map(|i| format!("Brand {i}")).collect::<Vec<_>>());
}
on_both_databases!(brands_paginate_with_opaque_cursors);
