//! The CSR calendar: pillars and their targets, the review workflow through GraphQL
//! (who may approve, what each step allows), comments and the audit trail, filters,
//! coverage (shares against targets, silent pillars, crowded channels, posts held by a
//! value-gap alert) and the iCal feed, read back by an independent parser.

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_tests::{Backend, TestApp, assert_error, new_mention, on_both_databases};

const CREATE: &str = "mutation($i: CreateContentItemInput!) { createContentItem(input: $i) { id status } }";
const ITEMS: &str = "query($b: ID!, $from: DateTime, $to: DateTime, $channel: String, $pillar: ID, $status: ContentStatus) { contentItems(brandId: $b, from: $from, to: $to, channel: $channel, pillarId: $pillar, status: $status) { edges { node { id title status channel pillars { name } values { name } comments { body author { email } } auditTrail { fromStatus toStatus note reviewer { email } } holdAlertId publishedUrl } } } }";

fn titles(data: &Value) -> Vec<String> {
    data["contentItems"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn the_calendar_workflow_coverage_and_feed(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let member = app.invite_and_accept(&owner.access_token, "member@agency.example", "MEMBER", &[&brand]).await;
    let viewer = app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand]).await;
    let m = Some(member.access_token.as_str());
    let v = Some(viewer.access_token.as_str());
    let value = app
        .ok(t, "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Zéro plastique\", keywords: [\"plastique\"] }) { id } }", json!({ "b": brand }))
        .await["createBrandValue"]["id"]
        .clone();

    // Pillars with targets that add up to at most 100 %.
    let pillar = |name: &str, share: f64| json!({ "i": { "brandId": brand, "name": name, "targetShare": share, "commitments": ["publish yearly figures"] } });
    let create_pillar =
        "mutation($i: CreateCsrPillarInput!) { createCsrPillar(input: $i) { id name targetShare commitments } }";
    let env = app.ok(m, create_pillar, pillar("Environnement", 0.5)).await["createCsrPillar"]["id"].clone();
    let social = app.ok(m, create_pillar, pillar("Social", 0.3)).await["createCsrPillar"]["id"].clone();
    let gov = app.ok(m, create_pillar, pillar("Gouvernance", 0.2)).await["createCsrPillar"]["id"].clone();
    assert_error(&app.gql(m, create_pillar, pillar("Extra", 0.1)).await, "BAD_USER_INPUT");
    assert_error(&app.gql(m, create_pillar, pillar("social", 0.0)).await, "CONFLICT");
    assert_error(&app.gql(v, create_pillar, pillar("Viewer", 0.0)).await, "FORBIDDEN");

    // Posts next week, 10:00 Paris time on consecutive days, plus one crowding another.
    let day = |n: i64, hour: u32, minute: u32| {
        let paris: chrono_tz::Tz = "Europe/Paris".parse().unwrap();
        let base = (Utc::now() + Duration::days(7 + n)).with_timezone(&paris).date_naive();
        paris.from_local_datetime(&base.and_hms_opt(hour, minute, 0).unwrap()).earliest().unwrap().with_timezone(&Utc)
    };
    let item = |title: &str, channel: &str, at: chrono::DateTime<Utc>, pillars: Vec<Value>, values: Vec<Value>| json!({ "i": { "brandId": brand, "title": title, "channel": channel, "body": format!("{title}; with a comma, and a\nnew line"), "scheduledAt": at.to_rfc3339(), "pillarIds": pillars, "valueIds": values, "media": ["https://cdn.example/a.jpg"] } });
    let refills = app
        .ok(m, CREATE, item("Refill stations", "instagram", day(0, 10, 0), vec![env.clone()], vec![value.clone()]))
        .await["createContentItem"]
        .clone();
    assert_eq!(refills["status"], "DRAFT");
    let refills = refills["id"].clone();
    let team = app
        .ok(m, CREATE, item("Meet the team", "instagram", day(0, 10, 30), vec![social.clone()], vec![]))
        .await["createContentItem"]["id"]
        .clone();
    let report = app
        .ok(m, CREATE, item("Annual CSR report", "linkedin", day(1, 9, 0), vec![env.clone()], vec![]))
        .await["createContentItem"]["id"]
        .clone();
    assert_error(
        &app.gql(m, CREATE, item("Bad", "carrier pigeon", day(2, 9, 0), vec![], vec![])).await,
        "BAD_USER_INPUT",
    );
    assert_error(&app.gql(v, CREATE, item("Viewer", "instagram", day(2, 9, 0), vec![], vec![])).await, "FORBIDDEN");

    // The workflow: a member submits; members cannot approve; the client viewer can.
    let act = |name: &str, extra: &str| {
        format!("mutation($id: ID!) {{ {name}(id: $id{extra}) {{ status holdAlertId publishedUrl }} }}")
    };
    for id in [&refills, &team, &report] {
        assert_eq!(
            app.ok(m, &act("submitContentItem", ""), json!({ "id": id })).await["submitContentItem"]["status"],
            "IN_REVIEW"
        );
    }
    assert_error(&app.gql(m, &act("approveContentItem", ""), json!({ "id": refills })).await, "FORBIDDEN");
    assert_error(&app.gql(m, &act("scheduleContentItem", ""), json!({ "id": refills })).await, "BAD_USER_INPUT");
    assert_eq!(
        app.ok(v, &act("approveContentItem", ""), json!({ "id": refills })).await["approveContentItem"]["status"],
        "APPROVED"
    );
    assert_eq!(
        app.ok(t, &act("approveContentItem", ""), json!({ "id": team })).await["approveContentItem"]["status"],
        "APPROVED"
    );
    assert_error(
        &app.gql(v, &act("rejectContentItem", ", note: \"\""), json!({ "id": report })).await,
        "BAD_USER_INPUT",
    );
    assert_eq!(
        app.ok(v, &act("rejectContentItem", ", note: \"Figures missing\""), json!({ "id": report })).await["rejectContentItem"]
            ["status"],
        "REJECTED"
    );
    assert_error(&app.gql(v, &act("scheduleContentItem", ""), json!({ "id": refills })).await, "FORBIDDEN");
    assert_eq!(
        app.ok(m, &act("scheduleContentItem", ""), json!({ "id": refills })).await["scheduleContentItem"]["status"],
        "SCHEDULED"
    );
    assert_eq!(
        app.ok(m, &act("scheduleContentItem", ""), json!({ "id": team })).await["scheduleContentItem"]["status"],
        "SCHEDULED"
    );
    let published = app
        .ok(m, &act("publishContentItem", ", publishedUrl: \"https://instagram.com/p/xyz\""), json!({ "id": team }))
        .await;
    assert_eq!(published["publishContentItem"]["publishedUrl"], "https://instagram.com/p/xyz");
    app.ok(
        v,
        "mutation($id: ID!) { commentOnContentItem(id: $id, body: \"Love it\") { id } }",
        json!({ "id": refills }),
    )
    .await;
    // Editing the rejected report and sending it again.
    app.ok(m, "mutation($id: ID!) { updateContentItem(input: { id: $id, body: \"Now with figures\", pillarIds: [] }) { status } }", json!({ "id": report }))
        .await;
    app.ok(m, &act("submitContentItem", ""), json!({ "id": report })).await;
    app.ok(t, &act("approveContentItem", ""), json!({ "id": report })).await;

    // Filters, links, comments and the audit trail.
    let all = app.ok(m, ITEMS, json!({ "b": brand })).await;
    assert_eq!(titles(&all), ["Refill stations", "Meet the team", "Annual CSR report"]);
    // Pages follow the schedule from the cursor's item on.
    let paged = "query($b: ID!, $a: String) { contentItems(brandId: $b, first: 2, after: $a) { \
        edges { node { title } } pageInfo { hasNextPage endCursor } } }";
    let page = app.ok(m, paged, json!({ "b": brand })).await;
    assert_eq!(titles(&page), ["Refill stations", "Meet the team"]);
    assert_eq!(page["contentItems"]["pageInfo"]["hasNextPage"], true);
    let next = app.ok(m, paged, json!({ "b": brand, "a": page["contentItems"]["pageInfo"]["endCursor"] })).await;
    assert_eq!(titles(&next), ["Annual CSR report"]);
    assert_eq!(next["contentItems"]["pageInfo"]["hasNextPage"], false);
    let first = &all["contentItems"]["edges"][0]["node"];
    assert_eq!(first["pillars"], json!([{ "name": "Environnement" }]));
    assert_eq!(first["values"], json!([{ "name": "Zéro plastique" }]));
    assert_eq!(first["comments"], json!([{ "body": "Love it", "author": { "email": "client@brand.example" } }]));
    let trail: Vec<(&str, &str)> = first["auditTrail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["toStatus"].as_str().unwrap(), r["reviewer"]["email"].as_str().unwrap()))
        .collect();
    assert_eq!(
        trail,
        [
            ("IN_REVIEW", "member@agency.example"),
            ("APPROVED", "client@brand.example"),
            ("SCHEDULED", "member@agency.example")
        ]
    );
    assert_eq!(
        titles(&app.ok(m, ITEMS, json!({ "b": brand, "channel": "instagram" })).await),
        ["Refill stations", "Meet the team"]
    );
    assert_eq!(titles(&app.ok(m, ITEMS, json!({ "b": brand, "pillar": env })).await), ["Refill stations"]);
    assert_eq!(titles(&app.ok(m, ITEMS, json!({ "b": brand, "status": "PUBLISHED" })).await), ["Meet the team"]);
    assert_eq!(
        titles(&app.ok(v, ITEMS, json!({ "b": brand, "from": day(1, 0, 0).to_rfc3339() })).await),
        ["Annual CSR report"]
    );

    // A value-gap alert puts the post about that value on hold.
    let source = app.create_source(t, &brand).await;
    app.collect(
        &source,
        vec![new_mention(
            "gap",
            "star",
            "Verdure promet zéro plastique mais mon colis en est plein, honteux !",
            900_000,
        )],
    )
    .await;
    let alerts = vigie_domain::crises::detect::detect(System::for_tests(), &app.services, vigie_tests::db_id(&brand))
        .await
        .unwrap();
    assert_eq!(alerts.len(), 1);
    let held = &app.ok(m, ITEMS, json!({ "b": brand, "status": "ON_HOLD" })).await["contentItems"]["edges"][0]["node"];
    assert_eq!(held["title"], "Refill stations");
    assert_eq!(vigie_tests::db_id(held["holdAlertId"].as_str().unwrap()), alerts[0]);
    assert_eq!(held["auditTrail"].as_array().unwrap().last().unwrap()["reviewer"], Value::Null, "held by Vigie");
    assert_error(&app.gql(m, &act("releaseContentItem", ""), json!({ "id": refills })).await, "FORBIDDEN");

    // Coverage of next week.
    let coverage = app
        .ok(m, "query($b: ID!, $f: DateTime!, $t: DateTime!) { calendarCoverage(brandId: $b, from: $f, to: $t, silentDays: 14, minGapMinutes: 60) { posts pillars { pillar { name } posts share targetShare gap silent } crowded { channel first { title } second { title } minutesApart } heldByAlerts { title } } }", json!({ "b": brand, "f": day(-1, 0, 0).to_rfc3339(), "t": day(5, 0, 0).to_rfc3339() }))
        .await["calendarCoverage"]
        .clone();
    assert_eq!(coverage["posts"], 2, "the held post is not planned: {coverage:#}");
    let by_name =
        |n: &str| coverage["pillars"].as_array().unwrap().iter().find(|p| p["pillar"]["name"] == n).unwrap().clone();
    assert_eq!((by_name("Social")["posts"].clone(), by_name("Social")["share"].clone()), (json!(1), json!(0.5)));
    assert_eq!(by_name("Social")["gap"].as_f64().unwrap(), 0.2);
    assert_eq!(
        (by_name("Environnement")["posts"].clone(), by_name("Environnement")["silent"].clone()),
        (json!(0), json!(true))
    );
    assert_eq!(by_name("Gouvernance")["silent"], true);
    assert_eq!(coverage["heldByAlerts"], json!([{ "title": "Refill stations" }]));
    assert_eq!(coverage["crowded"], json!([]), "the only other instagram post is held");
    // Releasing it (an admin) brings the crowding back.
    app.ok(t, &act("releaseContentItem", ""), json!({ "id": refills })).await;
    let crowded = app
        .ok(m, "query($b: ID!, $f: DateTime!, $t: DateTime!) { calendarCoverage(brandId: $b, from: $f, to: $t, minGapMinutes: 60) { crowded { channel minutesApart first { title } } } }", json!({ "b": brand, "f": day(-1, 0, 0).to_rfc3339(), "t": day(5, 0, 0).to_rfc3339() }))
        .await;
    assert_eq!(
        crowded["calendarCoverage"]["crowded"],
        json!([{ "channel": "instagram", "minutesApart": 30, "first": { "title": "Refill stations" } }])
    );

    // The iCal feed, read back by an independent parser.
    let share = app
        .ok(m, "mutation($b: ID!) { createCalendarShare(brandId: $b) { id url token } }", json!({ "b": brand }))
        .await["createCalendarShare"]
        .clone();
    let token = share["token"].as_str().unwrap();
    assert!(share["url"].as_str().unwrap().ends_with(&format!("/calendar/{token}.ics")));
    let body = vigie_domain::calendar::ical::feed(&app.services, token).await.unwrap();
    assert!(body.lines().all(|l| l.len() <= 76), "lines are folded");
    let calendar =
        ical::IcalParser::new(std::io::BufReader::new(body.as_bytes())).next().expect("a calendar").expect("parses");
    assert_eq!(calendar.timezones.len(), 1);
    let prop = |props: &[ical::property::Property], name: &str| {
        props.iter().find(|p| p.name == name).and_then(|p| p.value.clone())
    };
    assert_eq!(prop(&calendar.timezones[0].properties, "TZID").as_deref(), Some("Europe/Paris"));
    assert_eq!(calendar.events.len(), 3, "drafts and rejected posts stay out");
    let refill_event =
        calendar.events.iter().find(|e| prop(&e.properties, "SUMMARY").unwrap().contains("Refill")).unwrap();
    let start = refill_event.properties.iter().find(|p| p.name == "DTSTART").unwrap();
    assert_eq!(start.params.as_ref().unwrap()[0], ("TZID".to_owned(), vec!["Europe/Paris".to_owned()]));
    assert!(start.value.as_deref().unwrap().ends_with("T100000"), "10:00 local: {start:?}");
    assert_eq!(prop(&refill_event.properties, "CATEGORIES").as_deref(), Some("Environnement"));
    assert!(prop(&refill_event.properties, "DESCRIPTION").unwrap().contains("with a comma\\, and a\\nnew line"));

    let revoke = "mutation($id: ID!) { revokeCalendarShare(id: $id) { revokedAt } }";
    assert!(app.ok(m, revoke, json!({ "id": share["id"] })).await["revokeCalendarShare"]["revokedAt"].is_string());
    assert!(matches!(
        vigie_domain::calendar::ical::feed(&app.services, token).await,
        Err(vigie_domain::Error::NotFound(_))
    ));
    assert!(matches!(
        vigie_domain::calendar::ical::feed(&app.services, "vgc_guessed").await,
        Err(vigie_domain::Error::NotFound(_))
    ));
    let _ = gov;
}
on_both_databases!(the_calendar_workflow_coverage_and_feed);
