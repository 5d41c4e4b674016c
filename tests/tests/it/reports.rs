//! Shared report links: validation, sections, expiry and revocation (the page itself,
//! its CSV and the browser test are in `http.rs`).

use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;
use vigie_domain::System;
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
    let row = report_share::Entity::find_by_id(vigie_tests::db_id(share["id"].as_str().unwrap()))
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
        6
    );
    app.ok(t, "mutation($id: ID!) { revokeReportShare(id: $id) { revokedAt } }", json!({ "id": other["id"] })).await;
    assert_error(&app.gql(None, query, json!({ "t": other["token"] })).await, "NOT_FOUND");
}
on_both_databases!(report_links_open_one_brand_and_period_until_they_end);

/// The weekly digest reaches the brand's client viewers over real SMTP, in French for a
/// French brand, with the charts inline and a link to the full report; once per period.
async fn weekly_digests_go_to_client_viewers_once(backend: Backend) {
    use vigie_domain::reports::digests::{last_period, send_digests};
    let smtp = vigie_tests::smtp::SmtpServer::start();
    let app = TestApp::with_config(backend, &[("SMTP_URL", &smtp.url)]).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(t, "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", language: \"fr\" }) { id digestFrequency } }", json!({}))
        .await["createBrand"]
        .clone();
    assert_eq!(brand["digestFrequency"], "weekly");
    let brand = brand["id"].as_str().unwrap().to_owned();
    let quiet = app
        .ok(t, "mutation { createBrand(input: { name: \"Quiet\", timeZone: \"Europe/Paris\", digestFrequency: \"off\" }) { id } }", json!({}))
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_error(
        &app.gql(
            t,
            "mutation($b: ID!) { updateBrand(input: { id: $b, digestFrequency: \"daily\" }) { id } }",
            json!({ "b": brand }),
        )
        .await,
        "BAD_USER_INPUT",
    );
    app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand, &quiet]).await;

    let at = vigie_domain::now();
    let (from, _) = last_period("Europe/Paris".parse().unwrap(), "weekly", at).unwrap();
    let source = app.create_source(t, &brand).await;
    let mentions = (0..5)
        .map(|i| {
            let mut m = vigie_tests::new_mention(
                &format!("w{i}"),
                &format!("fan{i}"),
                "J'adore Verdure, shampoing génial",
                2_000,
            );
            m.published_at = from + chrono::Duration::hours(30 + i);
            m
        })
        .collect();
    app.collect(&source, mentions).await;

    assert_eq!(send_digests(System::for_tests(), &app.services, at).await.unwrap(), 1, "the quiet brand sends none");
    app.services.mailer.dispatch_due(System::for_tests(), &app.services.db).await.unwrap();
    let mail = smtp.wait_for_containing("client@brand.example", "rapport de la semaine").await;
    let raw = mail.raw.replace("=\r\n", "");
    assert!(raw.contains("Mentions : 5"), "{raw}");
    assert!(raw.contains("<svg") && raw.contains("Mentions et tonalit"), "charts inline, in French");
    assert!(raw.contains("/r/vgs_"), "a link to the full report");
    assert!(raw.contains("Justesse des alertes : pics n"), "alert precision, in French: {raw}");
    assert_eq!(send_digests(System::for_tests(), &app.services, at).await.unwrap(), 0, "once per period");
}
on_both_databases!(weekly_digests_go_to_client_viewers_once);
