//! Shared report links: validation, sections, expiry and revocation (the page itself,
//! its CSV and the browser test are in `http.rs`).

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use vigie_domain::entities::report_share;
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};

const CREATE: &str = "mutation($i: CreateReportShareInput!) { createReportShare(input: $i) { id url token } }";

async fn report_links_open_one_brand_and_period_until_they_end(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let viewer = app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand]).await;
    let now = chrono::Utc::now();
    let input = |sections: serde_json::Value, from: i64, to: i64, expires: i64| {
        json!({ "i": { "brandId": brand, "sections": sections,
            "from": (now + chrono::Duration::days(from)).to_rfc3339(), "to": (now + chrono::Duration::days(to)).to_rfc3339(),
            "expiresAt": (now + chrono::Duration::days(expires)).to_rfc3339() } })
    };
    for (bad, field) in [
        (input(json!(["sla"]), -500, 0, 7), "to"),
        (input(json!(["sla"]), 0, -1, 7), "to"),
        (input(json!(["sla"]), -7, 0, -1), "expiresAt"),
        (input(json!(["sla"]), -7, 0, 400), "expiresAt"),
        (input(json!(["secrets"]), -7, 0, 7), "sections"),
    ] {
        let response = app.gql(t, CREATE, bad).await;
        assert_error(&response, "BAD_USER_INPUT");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }
    assert_error(&app.gql(Some(&viewer.access_token), CREATE, input(json!([]), -7, 0, 7)).await, "FORBIDDEN");

    let share = app.ok(t, CREATE, input(json!(["SLA", "sla", "csr"]), -7, 0, 7)).await["createReportShare"].clone();
    assert!(share["url"].as_str().unwrap().ends_with(&format!("/r/{}", share["token"].as_str().unwrap())));
    let query = "query($t: String!) { sharedReport(token: $t) { brandName sections mentionsByDay { day } topInfluencers { handle } sla { overall { tickets } } alerts { kind } csr { posts } } }";
    let report = app.ok(None, query, json!({ "t": share["token"] })).await["sharedReport"].clone();
    assert_eq!(report["sections"], json!(["sla", "csr"]));
    assert_eq!(
        (report["mentionsByDay"].clone(), report["topInfluencers"].clone(), report["alerts"].clone()),
        (json!([]), json!([]), json!([]))
    );
    assert_eq!(report["sla"]["overall"]["tickets"], 0);
    assert_eq!(report["csr"]["posts"], 0);

    // Expired: the same answer as an unknown token.
    let row = report_share::Entity::find_by_id(uuid::Uuid::parse_str(share["id"].as_str().unwrap()).unwrap())
        .one(&app.services.db)
        .await
        .unwrap()
        .unwrap();
    assert!(
        row.token_hash != share["token"].as_str().unwrap() && row.last_accessed_at.is_some(),
        "stored hashed; access noted"
    );
    let mut row: report_share::ActiveModel = row.into();
    row.expires_at = Set(Some(vigie_domain::now() - chrono::Duration::minutes(1)));
    row.update(&app.services.db).await.unwrap();
    assert_error(&app.gql(None, query, json!({ "t": share["token"] })).await, "NOT_FOUND");

    let other = app.ok(t, CREATE, input(json!([]), -7, 0, 7)).await["createReportShare"].clone();
    assert_eq!(
        app.ok(None, query, json!({ "t": other["token"] })).await["sharedReport"]["sections"].as_array().unwrap().len(),
        5
    );
    app.ok(t, "mutation($id: ID!) { revokeReportShare(id: $id) { revokedAt } }", json!({ "id": other["id"] })).await;
    assert_error(&app.gql(None, query, json!({ "t": other["token"] })).await, "NOT_FOUND");
}
on_both_databases!(report_links_open_one_brand_and_period_until_they_end);
