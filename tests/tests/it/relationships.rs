//! The relationship CRM: status, owner, tags and notes; interactions that move the next
//! contact; per-tier and per-influencer cadences; the overdue list and the daily reminder
//! email (real SMTP); ideas and their workflow; typed errors for bad input.

use serde_json::{Value, json};
use vigie_domain::System;
use vigie_tests::smtp::SmtpServer;
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};

const UPDATE: &str = "mutation($i: UpdateInfluencerRelationshipInput!) { updateInfluencerRelationship(input: $i) { \
    id relationshipStatus owner { user { email } } tags notes contactCadenceDays lastContactAt nextContactDueAt contactOverdue } }";
const LOG: &str = "mutation($i: LogInteractionInput!) { logInteraction(input: $i) { id channel direction summary occurredAt loggedBy { email } } }";
const OVERDUE: &str =
    "query($b: ID!, $o: ID) { overdueContacts(brandId: $b, ownerId: $o) { edges { node { id author { handle } } } } }";

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

fn handles(data: &Value) -> Vec<String> {
    data["overdueContacts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["author"]["handle"].as_str().unwrap().to_owned())
        .collect()
}

async fn relationships_cadence_reminders_and_ideas(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::with_config(backend, &[("SMTP_URL", &smtp.url)]).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(t, "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", contactCadence: [{ tier: MACRO, days: 30 }] }) { id contactCadence { tier days } } }", json!({}))
        .await["createBrand"]
        .clone();
    assert_eq!(brand["contactCadence"], json!([{ "tier": "MACRO", "days": 30 }]));
    let brand = brand["id"].as_str().unwrap().to_owned();
    let member = app.invite_and_accept(&owner.access_token, "member@agency.example", "MEMBER", &[&brand]).await;
    let member_id =
        app.ok(Some(&member.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    let viewer = app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand]).await;
    let viewer_id =
        app.ok(Some(&viewer.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    let source = app.create_source(t, &brand).await;
    let star = app.seed_influencer(&source, "star", "Verdure is lovely").await;
    let small = app.seed_influencer(&source, "small", "Verdure shampoo again").await;
    // Scoring put the seed in the nano tier; make it the macro author it stands for.
    {
        use sea_orm::{ActiveModelTrait, EntityTrait, Set};
        use vigie_domain::entities::brand_influencer;
        let row = brand_influencer::Entity::find_by_id(vigie_tests::db_id(&star))
            .one(&app.services.db)
            .await
            .unwrap()
            .unwrap();
        let mut row: brand_influencer::ActiveModel = row.into();
        row.tier = Set("macro".into());
        row.update(&app.services.db).await.unwrap();
    }

    // A macro partner owned by a member: due 30 days after entering the CRM.
    let partner = app
        .ok(t, UPDATE, json!({ "i": { "influencerId": star, "status": "PARTNER", "ownerId": member_id, "tags": ["vegan", "Vegan", "zero waste"], "notes": "Prefers email" } }))
        .await["updateInfluencerRelationship"]
        .clone();
    assert_eq!(partner["relationshipStatus"], "PARTNER");
    assert_eq!(partner["owner"]["user"]["email"], "member@agency.example");
    assert_eq!(partner["tags"], json!(["vegan", "zero waste"]));
    assert_eq!(partner["contactOverdue"], false);
    let due = chrono::DateTime::parse_from_rfc3339(partner["nextContactDueAt"].as_str().unwrap()).unwrap();
    let in_days = (due.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_hours();
    assert!((29 * 24..=30 * 24).contains(&in_days), "{partner}");

    // The last contact was 40 days ago: overdue by ten days.
    let logged = app
        .ok(Some(&member.access_token), LOG, json!({ "i": { "influencerId": star, "channel": "email", "direction": "OUTBOUND", "summary": "Sent the spring kit", "occurredAt": days_ago(40) } }))
        .await["logInteraction"]
        .clone();
    assert_eq!(
        (logged["direction"].clone(), logged["loggedBy"]["email"].clone()),
        (json!("OUTBOUND"), json!("member@agency.example"))
    );
    app.ok(Some(&member.access_token), LOG, json!({ "i": { "influencerId": star, "channel": "dm", "direction": "INBOUND", "summary": "Asked for refills", "occurredAt": days_ago(45) } }))
        .await;
    assert_eq!(handles(&app.ok(t, OVERDUE, json!({ "b": brand })).await), vec!["star"]);
    assert_eq!(handles(&app.ok(t, OVERDUE, json!({ "b": brand, "o": member_id })).await), vec!["star"]);
    let listed = app
        .ok(t, "query($i: ID!) { interactions(influencerId: $i, first: 1) { edges { node { summary } } pageInfo { hasNextPage endCursor } } }", json!({ "i": star }))
        .await;
    assert_eq!(listed["interactions"]["edges"][0]["node"]["summary"], "Sent the spring kit", "newest first");
    let next = app
        .ok(t, "query($i: ID!, $a: String) { interactions(influencerId: $i, first: 1, after: $a) { edges { node { summary } } } }", json!({ "i": star, "a": listed["interactions"]["pageInfo"]["endCursor"] }))
        .await;
    assert_eq!(next["interactions"]["edges"][0]["node"]["summary"], "Asked for refills");

    // A per-influencer cadence applies whatever the status; declining stops it.
    let watched = app
        .ok(t, UPDATE, json!({ "i": { "influencerId": small, "status": "WATCHING", "contactCadenceDays": 7 } }))
        .await["updateInfluencerRelationship"]
        .clone();
    assert!(watched["nextContactDueAt"].is_string());
    // Contacted ten days ago on a 7-day cadence: overdue by three, after the star; the
    // list pages by due date with its authors read along.
    app.ok(t, LOG, json!({ "i": { "influencerId": small, "channel": "email", "direction": "OUTBOUND", "summary": "Samples", "occurredAt": days_ago(10) } }))
        .await;
    assert_eq!(handles(&app.ok(t, OVERDUE, json!({ "b": brand })).await), vec!["star", "small"]);
    let paged = "query($b: ID!, $a: String) { overdueContacts(brandId: $b, first: 1, after: $a) { \
        edges { node { author { handle } } } pageInfo { hasNextPage endCursor } } }";
    let first = app.ok(t, paged, json!({ "b": brand })).await;
    assert_eq!(
        (handles(&first), &first["overdueContacts"]["pageInfo"]["hasNextPage"]),
        (vec!["star".into()], &json!(true))
    );
    let cursor = &first["overdueContacts"]["pageInfo"]["endCursor"];
    let second = app.ok(t, paged, json!({ "b": brand, "a": cursor })).await;
    assert_eq!(
        (handles(&second), &second["overdueContacts"]["pageInfo"]["hasNextPage"]),
        (vec!["small".into()], &json!(false))
    );
    let blocked = app
        .ok(t, UPDATE, json!({ "i": { "influencerId": small, "status": "DO_NOT_CONTACT" } }))
        .await["updateInfluencerRelationship"]
        .clone();
    assert!(blocked["nextContactDueAt"].is_null());
    let refused = app
        .gql(
            t,
            LOG,
            json!({ "i": { "influencerId": small, "channel": "email", "direction": "OUTBOUND", "summary": "Hello" } }),
        )
        .await;
    assert_error(&refused, "BAD_USER_INPUT");
    app.ok(t, LOG, json!({ "i": { "influencerId": small, "channel": "email", "direction": "INBOUND", "summary": "They wrote to us" } })).await;

    // Bad input gets typed errors.
    for (input, code) in [
        (json!({ "influencerId": small, "contactCadenceDays": 0 }), "BAD_USER_INPUT"),
        (json!({ "influencerId": small, "ownerId": viewer_id }), "BAD_USER_INPUT"),
        (json!({ "influencerId": small, "ownerId": "00000000-0000-7000-8000-000000000000" }), "NOT_FOUND"),
        (json!({ "influencerId": small, "tags": [""] }), "BAD_USER_INPUT"),
    ] {
        assert_error(&app.gql(t, UPDATE, json!({ "i": input })).await, code);
    }
    for input in [
        json!({ "influencerId": star, "channel": "pigeon", "direction": "OUTBOUND", "summary": "x" }),
        json!({ "influencerId": star, "channel": "call", "direction": "OUTBOUND", "summary": "x", "occurredAt": days_ago(-2) }),
        json!({ "influencerId": star, "channel": "call", "direction": "OUTBOUND", "summary": " " }),
    ] {
        assert_error(&app.gql(t, LOG, json!({ "i": input })).await, "BAD_USER_INPUT");
    }
    assert_error(
        &app.gql(
            t,
            "mutation { updateBrand(input: { id: \"x\", contactCadence: [{ tier: MEGA, days: 400 }] }) { id } }",
            json!({}),
        )
        .await,
        "BAD_USER_INPUT",
    );

    // A client viewer sees neither the interactions nor the notes, and cannot log.
    let v = Some(viewer.access_token.as_str());
    assert_error(
        &app.gql(
            v,
            "query($i: ID!) { interactions(influencerId: $i) { edges { node { id } } } }",
            json!({ "i": star }),
        )
        .await,
        "FORBIDDEN",
    );
    let notes = app
        .gql(v, "query($b: ID!) { influencers(brandId: $b) { edges { node { notes } } } }", json!({ "b": brand }))
        .await;
    assert!(
        vigie_tests::error_codes(&notes).iter().all(|c| c == "FORBIDDEN")
            && !notes.to_string().contains("Prefers email"),
        "{notes}"
    );
    assert_error(
        &app.gql(
            v,
            LOG,
            json!({ "i": { "influencerId": star, "channel": "dm", "direction": "OUTBOUND", "summary": "x" } }),
        )
        .await,
        "FORBIDDEN",
    );

    // The daily reminder: one email to the owner, once a day.
    assert_eq!(vigie_domain::relationships::send_reminders(System::for_tests(), &app.services).await.unwrap(), 1);
    app.services.mailer.dispatch_due(System::for_tests(), &app.services.db).await.unwrap();
    let mail = smtp.wait_for_containing("member@agency.example", "influencer contact overdue").await;
    assert!(mail.raw.contains("@star"), "{}", mail.raw);
    assert!(mail.raw.contains("text/html"));
    assert_eq!(
        vigie_domain::relationships::send_reminders(System::for_tests(), &app.services).await.unwrap(),
        0,
        "not twice a day"
    );

    // Ideas: linked to a mention of the brand and an interaction, moved along.
    let mention = app
        .ok(t, "query($b: ID!) { mentions(brandId: $b, first: 1) { edges { node { id } } } }", json!({ "b": brand }))
        .await["mentions"]["edges"][0]["node"]["id"]
        .clone();
    let create = "mutation($i: CreateIdeaInput!) { createIdea(input: $i) { id status reportedBack linkedMentionIds linkedInteractionIds createdBy { email } } }";
    let idea = app
        .ok(Some(&member.access_token), create, json!({ "i": { "influencerId": star, "title": "Refill stations in stores", "detail": "Asked twice", "linkedMentionIds": [mention], "linkedInteractionIds": [logged["id"]] } }))
        .await["createIdea"]
        .clone();
    assert_eq!((idea["status"].clone(), idea["reportedBack"].clone()), (json!("PROPOSED"), json!(false)));
    assert_eq!(idea["linkedMentionIds"], json!([mention]));
    let other_brand = app.create_brand(&owner.access_token, "Other").await;
    let other_source = app
        .ok(t, "mutation($b: ID!) { createSource(input: { brandId: $b, network: MASTODON, kind: HASHTAG, target: \"other\", enabled: false }) { id } }", json!({ "b": other_brand }))
        .await["createSource"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.seed_influencer(&other_source, "elsewhere", "Other brand talk").await;
    let foreign_mention = app
        .ok(
            t,
            "query($b: ID!) { mentions(brandId: $b, first: 1) { edges { node { id } } } }",
            json!({ "b": other_brand }),
        )
        .await["mentions"]["edges"][0]["node"]["id"]
        .clone();
    assert_error(
        &app.gql(
            t,
            create,
            json!({ "i": { "influencerId": star, "title": "x", "linkedMentionIds": [foreign_mention] } }),
        )
        .await,
        "NOT_FOUND",
    );
    let id = idea["id"].clone();
    let update = "mutation($i: UpdateIdeaInput!) { updateIdea(input: $i) { status reportedBack } }";
    assert_error(&app.gql(t, update, json!({ "i": { "id": id, "status": "SHIPPED" } })).await, "BAD_USER_INPUT");
    assert_eq!(
        app.ok(t, update, json!({ "i": { "id": id, "status": "ACCEPTED" } })).await["updateIdea"]["status"],
        "ACCEPTED"
    );
    let shipped = app.ok(t, update, json!({ "i": { "id": id, "status": "SHIPPED", "reportedBack": true } })).await;
    assert_eq!(shipped["updateIdea"], json!({ "status": "SHIPPED", "reportedBack": true }));
    assert_error(&app.gql(t, update, json!({ "i": { "id": id, "status": "REJECTED" } })).await, "BAD_USER_INPUT");
    let listed = app
        .ok(t, "query($b: ID!) { ideas(brandId: $b, filter: { status: SHIPPED, reportedBack: true }) { edges { node { title } } } }", json!({ "b": brand }))
        .await;
    assert_eq!(listed["ideas"]["edges"], json!([{ "node": { "title": "Refill stations in stores" } }]));

    // Dropping the brand's cadence recomputes: the partner is no longer due.
    app.ok(t, "mutation($b: ID!) { updateBrand(input: { id: $b, contactCadence: [] }) { id } }", json!({ "b": brand }))
        .await;
    assert!(handles(&app.ok(t, OVERDUE, json!({ "b": brand })).await).is_empty());
}
on_both_databases!(relationships_cadence_reminders_and_ideas);
