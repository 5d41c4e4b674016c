//! SLA policies and the inbox: validation with typed errors, which policy applies,
//! solicitations becoming tickets with due times in business time, the inbox's filters,
//! and the SLA clock end to end (job runtime, events, breach email over real SMTP); a
//! ticket answered in time never breaches; compliance figures.

use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use std::time::Duration;
use vigie_domain::entities::{event, ticket};
use vigie_tests::smtp::SmtpServer;
use vigie_tests::{Backend, TestApp, assert_error, new_mention, on_both_databases};

const UPSERT: &str = "mutation($i: UpsertSlaPolicyInput!) { upsertSlaPolicy(input: $i) { source alwaysOpen timeZone targets { urgent high normal low } tierTargets { tier priority minutes } businessHours { weekday start end } holidays escalationEmails } }";
const TICKETS: &str = "query($b: ID!, $f: TicketFilterInput, $after: String, $first: Int) { tickets(brandId: $b, filter: $f, first: $first, after: $after) { edges { node { id status slaState priority network tier createdAt dueAt atRiskAt targetMinutes breached firstResponseMinutes responseText assignee { id } mention { externalId } } } pageInfo { hasNextPage endCursor } } }";

fn nodes(data: &Value) -> Vec<Value> {
    data["tickets"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

fn office() -> Value {
    json!([
        { "weekday": "MONDAY", "start": "09:00", "end": "12:00" },
        { "weekday": "MONDAY", "start": "14:00", "end": "18:00" },
        { "weekday": "FRIDAY", "start": "09:00", "end": "17:00" }
    ])
}

async fn policies_are_validated_and_resolved(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let targets = json!({ "urgent": 30, "high": 120, "normal": 480, "low": 1440 });
    let policy = "query($b: ID!) { slaPolicy(brandId: $b) { source timeZone targets { urgent } businessHours { weekday start end } } }";
    let built_in = app.ok(t, policy, json!({ "b": brand })).await["slaPolicy"].clone();
    assert_eq!((built_in["source"].clone(), built_in["timeZone"].clone()), (json!("BUILT_IN"), json!("Europe/Paris")));
    assert_eq!(built_in["businessHours"].as_array().unwrap().len(), 5);

    for (input, field) in [
        (
            json!({ "targets": { "urgent": 0, "high": 120, "normal": 480, "low": 1440 }, "alwaysOpen": true }),
            "targets.urgent",
        ),
        (
            json!({ "targets": targets, "businessHours": [{ "weekday": "MONDAY", "start": "09:00", "end": "13:00" }, { "weekday": "MONDAY", "start": "12:00", "end": "18:00" }] }),
            "businessHours",
        ),
        (
            json!({ "targets": targets, "businessHours": [{ "weekday": "MONDAY", "start": "18:00", "end": "09:00" }] }),
            "businessHours",
        ),
        (
            json!({ "targets": targets, "businessHours": [{ "weekday": "MONDAY", "start": "25:00", "end": "26:00" }] }),
            "businessHours.start",
        ),
        (json!({ "targets": targets, "alwaysOpen": true, "timeZone": "Mars/Olympus" }), "timeZone"),
        (json!({ "targets": targets }), "businessHours"),
        (
            json!({ "targets": targets, "alwaysOpen": true, "tierTargets": [{ "tier": "MACRO", "priority": "URGENT", "minutes": -5 }] }),
            "tierTargets.minutes",
        ),
    ] {
        let response = app.gql(t, UPSERT, json!({ "i": input })).await;
        assert_error(&response, "BAD_USER_INPUT");
        assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
    }

    let agency = app
        .ok(t, UPSERT, json!({ "i": { "targets": targets, "businessHours": office(), "holidays": ["2026-12-25"], "escalationEmails": ["OnCall@Agency.example"] } }))
        .await["upsertSlaPolicy"]
        .clone();
    assert_eq!(agency["source"], "AGENCY");
    assert_eq!(agency["businessHours"][1], json!({ "weekday": "MONDAY", "start": "14:00", "end": "18:00" }));
    assert_eq!(agency["holidays"], json!(["2026-12-25"]));
    assert_eq!(agency["escalationEmails"], json!(["oncall@agency.example"]));
    assert_eq!(app.ok(t, policy, json!({ "b": brand })).await["slaPolicy"]["source"], "AGENCY");
    let own = app
        .ok(t, UPSERT, json!({ "i": { "brandId": brand, "targets": targets, "alwaysOpen": true, "timeZone": "America/New_York", "tierTargets": [{ "tier": "MACRO", "priority": "URGENT", "minutes": 10 }] } }))
        .await["upsertSlaPolicy"]
        .clone();
    assert_eq!((own["source"].clone(), own["timeZone"].clone()), (json!("BRAND"), json!("America/New_York")));
    assert_eq!(own["tierTargets"], json!([{ "tier": "MACRO", "priority": "URGENT", "minutes": 10 }]));
    // Saving again replaces the brand's policy rather than adding one.
    app.ok(t, UPSERT, json!({ "i": { "brandId": brand, "targets": targets, "alwaysOpen": true } })).await;
    let again = app.ok(t, policy, json!({ "b": brand })).await["slaPolicy"].clone();
    assert_eq!((again["source"].clone(), again["timeZone"].clone()), (json!("BRAND"), json!("Europe/Paris")));

    let member = app.invite_and_accept(&owner.access_token, "member@agency.example", "MEMBER", &[&brand]).await;
    assert_error(
        &app.gql(Some(&member.access_token), UPSERT, json!({ "i": { "targets": targets, "alwaysOpen": true } })).await,
        "FORBIDDEN",
    );
}
on_both_databases!(policies_are_validated_and_resolved);

fn solicitation(id: &str, handle: &str) -> vigie_domain::mentions::store::NewMention {
    let mut m = new_mention(id, handle, "@verdure where is my refund? Please help, I am still waiting", 800);
    m.direct = true;
    m
}

async fn events_of(app: &TestApp, kind: &str) -> Vec<event::Model> {
    event::Entity::find().filter(event::Column::Kind.eq(kind)).all(&app.services.db).await.unwrap()
}

async fn set_times(app: &TestApp, id: &str, at_risk: chrono::Duration, due: chrono::Duration) {
    let row = ticket::Entity::find_by_id(vigie_tests::db_id(id)).one(&app.services.db).await.unwrap().unwrap();
    let mut row: ticket::ActiveModel = row.into();
    row.at_risk_at = Set(vigie_domain::now() + at_risk);
    row.due_at = Set(vigie_domain::now() + due);
    row.update(&app.services.db).await.unwrap();
}

async fn the_inbox_and_its_clock(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::with_config(backend, &[("SMTP_URL", &smtp.url)]).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(t, "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", handles: [{ network: MASTODON, handle: \"verdure\" }], escalationEmails: [\"esc@brand.example\"] }) { id } }", json!({}))
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let targets = json!({ "urgent": 60, "high": 120, "normal": 240, "low": 480 });
    app.ok(t, UPSERT, json!({ "i": { "brandId": brand, "targets": targets, "alwaysOpen": true, "escalationEmails": ["oncall@agency.example"] } }))
        .await;
    let member = app.invite_and_accept(&owner.access_token, "member@agency.example", "MEMBER", &[&brand]).await;
    let member_id =
        app.ok(Some(&member.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    let source = app.create_source(t, &brand).await;
    app.collect(
        &source,
        vec![solicitation("q1", "alice"), solicitation("q2", "bob"), new_mention("n1", "carol", "Verdure is nice", 50)],
    )
    .await;

    // Two solicitations, two tickets, due a target after Vigie received them (24/7 here).
    let list = nodes(&app.ok(t, TICKETS, json!({ "b": brand })).await);
    assert_eq!(list.len(), 2, "{list:?}");
    for ticket in &list {
        assert_eq!((ticket["status"].clone(), ticket["slaState"].clone()), (json!("OPEN"), json!("ON_TRACK")));
        let created = chrono::DateTime::parse_from_rfc3339(ticket["createdAt"].as_str().unwrap()).unwrap();
        let due = chrono::DateTime::parse_from_rfc3339(ticket["dueAt"].as_str().unwrap()).unwrap();
        let at_risk = chrono::DateTime::parse_from_rfc3339(ticket["atRiskAt"].as_str().unwrap()).unwrap();
        let target = ticket["targetMinutes"].as_i64().unwrap();
        assert_eq!((due - created).num_minutes(), target);
        assert_eq!((at_risk - created).num_minutes(), target * 4 / 5);
        assert_eq!(ticket["network"], "mastodon");
    }
    let by =
        |id: &str| list.iter().find(|t| t["mention"]["externalId"] == id).unwrap()["id"].as_str().unwrap().to_owned();
    let (answered, missed) = (by("q1"), by("q2"));

    // Inbox actions and filters.
    let assign = "mutation($id: ID!, $a: ID) { assignTicket(id: $id, assigneeId: $a) { assignee { id } } }";
    assert_eq!(
        app.ok(t, assign, json!({ "id": missed, "a": member_id })).await["assignTicket"]["assignee"]["id"],
        member_id
    );
    let viewer = app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand]).await;
    let viewer_id =
        app.ok(Some(&viewer.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    assert_error(&app.gql(t, assign, json!({ "id": missed, "a": viewer_id })).await, "BAD_USER_INPUT");
    assert_error(&app.gql(Some(&viewer.access_token), TICKETS, json!({ "b": brand })).await, "FORBIDDEN");
    let mine = nodes(&app.ok(t, TICKETS, json!({ "b": brand, "f": { "assigneeId": member_id } })).await);
    assert_eq!(mine.len(), 1);
    assert_eq!(nodes(&app.ok(t, TICKETS, json!({ "b": brand, "f": { "assigneeId": null } })).await).len(), 1);
    let page = app.ok(t, TICKETS, json!({ "b": brand, "first": 1 })).await;
    assert_eq!(page["tickets"]["pageInfo"]["hasNextPage"], true);
    let rest =
        app.ok(t, TICKETS, json!({ "b": brand, "first": 1, "after": page["tickets"]["pageInfo"]["endCursor"] })).await;
    assert_ne!(nodes(&rest)[0]["id"], nodes(&page)[0]["id"]);
    let snooze = "mutation($id: ID!, $u: DateTime) { snoozeTicket(id: $id, until: $u) { snoozedUntil } }";
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    app.ok(t, snooze, json!({ "id": answered, "u": later })).await;
    assert_eq!(nodes(&app.ok(t, TICKETS, json!({ "b": brand })).await).len(), 1, "snoozed tickets leave the inbox");
    assert_eq!(nodes(&app.ok(t, TICKETS, json!({ "b": brand, "f": { "includeSnoozed": true } })).await).len(), 2);
    app.ok(t, snooze, json!({ "id": answered, "u": null })).await;
    assert_error(
        &app.gql(
            t,
            snooze,
            json!({ "id": answered, "u": (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339() }),
        )
        .await,
        "BAD_USER_INPUT",
    );

    // One is answered in time; the other is left to run out.
    let respond = "mutation($id: ID!) { respondToTicket(id: $id, text: \"Your refund left today, sorry for the wait\", channel: \"DM\") { status slaState firstResponseMinutes responseText } }";
    let replied =
        app.ok(Some(&member.access_token), respond, json!({ "id": answered })).await["respondToTicket"].clone();
    assert_eq!(replied["status"], "ANSWERED");
    assert_eq!(replied["slaState"], "MET");
    assert_eq!(replied["firstResponseMinutes"], 0);
    set_times(&app, &answered, chrono::Duration::seconds(-10), chrono::Duration::seconds(-5)).await;
    set_times(&app, &missed, chrono::Duration::seconds(1), chrono::Duration::seconds(4)).await;
    let due = vigie_domain::now() + chrono::Duration::seconds(4);

    let jobs = app.start_jobs();
    let breached = vigie_tests::eventually("the ticket to breach", Duration::from_secs(30), async || {
        let state = nodes(&app.ok(t, TICKETS, json!({ "b": brand, "f": { "breached": true } })).await);
        state.first().cloned().ok_or_else(|| "no breached ticket".to_owned())
    })
    .await;
    let breached_at = vigie_domain::now();
    assert_eq!(breached["id"], missed.as_str());
    let late = (breached_at - due).num_milliseconds();
    assert!(late < 5_000, "breached {late} ms after its due time");
    let mail = smtp.wait_for_containing("oncall@agency.example", "Response target missed").await;
    assert!(mail.raw.contains("Verdure"));
    smtp.wait_for_containing("esc@brand.example", "Response target missed").await;
    jobs.stop().await;

    let at_risk = events_of(&app, "sla.at_risk").await;
    let breached = events_of(&app, "sla.breached").await;
    assert_eq!((at_risk.len(), breached.len()), (1, 1), "each transition once");
    assert_eq!(breached[0].payload["ticket"]["id"], vigie_tests::db_id(&missed).to_string());
    let answered_now =
        ticket::Entity::find_by_id(vigie_tests::db_id(&answered)).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(
        (answered_now.sla_state.as_str(), answered_now.breached),
        ("met", false),
        "answered in time: never breached"
    );

    // Closing, reopening, responding late keeps the breach.
    let close = "mutation($id: ID!) { closeTicket(id: $id) { status closedAt } }";
    assert_eq!(app.ok(t, close, json!({ "id": missed })).await["closeTicket"]["status"], "CLOSED");
    assert_error(&app.gql(t, respond, json!({ "id": missed })).await, "BAD_USER_INPUT");
    assert_eq!(
        app.ok(t, "mutation($id: ID!) { reopenTicket(id: $id) { status } }", json!({ "id": missed })).await["reopenTicket"]
            ["status"],
        "OPEN"
    );
    let late_reply = app.ok(t, respond, json!({ "id": missed })).await["respondToTicket"].clone();
    assert_eq!(late_reply["slaState"], "BREACHED");

    // Compliance: one in time, one late.
    let from = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let to = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let figures = app
        .ok(t, "query($b: ID!, $f: DateTime!, $t: DateTime!) { slaCompliance(brandId: $b, from: $f, to: $t) { overall { tickets answered withinTarget breached shareWithinTarget medianFirstResponseMinutes p90FirstResponseMinutes } byNetwork { key figures { tickets } } byPriority { key figures { tickets } } } }", json!({ "b": brand, "f": from, "t": to }))
        .await["slaCompliance"]
        .clone();
    assert_eq!(
        figures["overall"],
        json!({ "tickets": 2, "answered": 2, "withinTarget": 1, "breached": 1, "shareWithinTarget": 0.5, "medianFirstResponseMinutes": 0, "p90FirstResponseMinutes": figures["overall"]["p90FirstResponseMinutes"] })
    );
    assert_eq!(figures["byNetwork"], json!([{ "key": "mastodon", "figures": { "tickets": 2 } }]));
    let viewer_figures = app
        .gql(Some(&viewer.access_token), "query($b: ID!, $f: DateTime!, $t: DateTime!) { slaCompliance(brandId: $b, from: $f, to: $t) { overall { tickets } } }", json!({ "b": brand, "f": from, "t": to }))
        .await;
    assert_eq!(viewer_figures["data"]["slaCompliance"]["overall"]["tickets"], 2, "client viewers read compliance");
    assert_error(
        &app.gql(
            t,
            "query($b: ID!, $f: DateTime!) { slaCompliance(brandId: $b, from: $f, to: $f) { overall { tickets } } }",
            json!({ "b": brand, "f": from }),
        )
        .await,
        "BAD_USER_INPUT",
    );
}
on_both_databases!(the_inbox_and_its_clock);
