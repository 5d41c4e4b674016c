//! Per-member notifications and the on-call rota: preferences (events, brands, email, Slack and Teams
//! incoming webhooks, quiet hours), delivered from real events to local receivers
//! speaking each network's format; a member hears only of its brands, and quiet hours
//! hold messages until they end. SLA escalations reach the member on call, who gets the
//! ticket when it sees the brand.

use chrono::Duration;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_domain::crises::detect::detect;
use vigie_domain::entities::{alert, email_outbox, event, notification, ticket};
use vigie_tests::{Backend, TestApp, assert_error, db_id, new_mention, on_both_databases, until};

const WAIT: std::time::Duration = std::time::Duration::from_secs(20);
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SET: &str = "mutation($i: NotificationPreferencesInput!) { setNotificationPreferences(input: $i) { \
    eventTypes brandIds email slack teams quietFrom quietTo timeZone } }";

fn calls(brand: &str, prefix: &str) -> Vec<vigie_domain::mentions::store::NewMention> {
    (0..3)
        .map(|i| {
            let mut m = new_mention(
                &format!("{prefix}-{i}"),
                &format!("{prefix}{i}"),
                &format!("Boycottez {brand}, ils mentent #Boycott{brand}"),
                300,
            );
            m.published_at = vigie_domain::now() - Duration::minutes(10 - i);
            m
        })
        .collect()
}

async fn members_hear_of_their_brands_where_and_when_they_chose(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let jobs = app.start_jobs();
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = owner.access_token.as_str();
    let (verdure, lumen) = (app.create_brand(t, "Verdure").await, app.create_brand(t, "Lumen").await);
    let (verdure_source, lumen_source) =
        (app.create_source(Some(t), &verdure).await, app.create_source(Some(t), &lumen).await);
    let member = app.invite_and_accept(t, "member@agency.example", "MEMBER", &[&verdure]).await;
    let night = app.invite_and_accept(t, "night@agency.example", "MEMBER", &[&verdure]).await;
    let moved = app.invite_and_accept(t, "moved@agency.example", "MEMBER", &[&verdure]).await;
    let receiver = MockServer::start().await;
    for route in ["/slack", "/teams", "/night", "/moved"] {
        Mock::given(method("POST")).and(path(route)).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    }

    // Validation.
    let bad = |i: Value| {
        let (app, token) = (&app, member.access_token.clone());
        async move { app.gql(Some(&token), SET, json!({ "i": i })).await }
    };
    let base = json!({ "eventTypes": ["mobilisation.opened"], "timeZone": "Europe/Paris" });
    let with = |extra: Value| {
        let mut i = base.clone();
        i.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        i
    };
    assert_error(&bad(with(json!({ "eventTypes": ["made.up"] }))).await, "BAD_USER_INPUT");
    assert_error(&bad(with(json!({ "brandIds": [lumen] }))).await, "NOT_FOUND");
    assert_error(&bad(with(json!({ "quietFrom": "22:00" }))).await, "BAD_USER_INPUT");
    assert_error(&bad(with(json!({ "quietFrom": "25:00", "quietTo": "07:00" }))).await, "BAD_USER_INPUT");
    assert_error(&bad(with(json!({ "timeZone": "Mars/Olympus" }))).await, "BAD_USER_INPUT");
    assert_error(&bad(with(json!({ "slackUrl": "ftp://hooks.slack.com/x" }))).await, "BAD_USER_INPUT");

    // The member: mobilisations by email, Slack and Teams, no quiet hours.
    let set = app
        .ok(
            Some(&member.access_token),
            SET,
            json!({ "i": with(json!({ "email": true, "slackUrl": format!("{}/slack", receiver.uri()), "teamsUrl": format!("{}/teams", receiver.uri()) })) }),
        )
        .await["setNotificationPreferences"]
        .clone();
    assert_eq!(
        (set["slack"].clone(), set["teams"].clone(), set["email"].clone()),
        (json!(true), json!(true), json!(true))
    );
    // Its colleague on nights: quiet hours that hold now, wherever the clock stands.
    let now = vigie_domain::now();
    let from = (now - Duration::hours(1)).format("%H:%M").to_string();
    let to = (now + Duration::hours(2)).format("%H:%M").to_string();
    for (login, route) in [(&night, "night"), (&moved, "moved")] {
        app.ok(
            Some(&login.access_token),
            SET,
            json!({ "i": { "eventTypes": ["mobilisation.opened"], "slackUrl": format!("{}/{route}", receiver.uri()), "quietFrom": from, "quietTo": to, "timeZone": "UTC" } }),
        )
        .await;
    }

    // A boycott of the brand it does not see tells it nothing; its own brand's does.
    // The job runtime detects after each stored batch; detecting here too changes nothing.
    for (brand, source, name, prefix) in
        [(&lumen, &lumen_source, "Lumen", "l"), (&verdure, &verdure_source, "Verdure", "v")]
    {
        app.collect(source, calls(name, prefix)).await;
        detect(System::for_tests(), &app.services, db_id(brand)).await.unwrap();
        until("the mobilisation alert", WAIT, async || {
            alert::Entity::find()
                .filter(alert::Column::BrandId.eq(db_id(brand)))
                .filter(alert::Column::Kind.eq("mobilisation"))
                .all(&app.services.db)
                .await
                .unwrap()
                .len()
                == 1
        })
        .await;
    }
    until("Slack and Teams to hear of it", WAIT, async || {
        let got = receiver.received_requests().await.unwrap();
        got.iter().any(|r| r.url.path() == "/slack") && got.iter().any(|r| r.url.path() == "/teams")
    })
    .await;
    let got = receiver.received_requests().await.unwrap();
    let slack: Value = serde_json::from_slice(&got.iter().find(|r| r.url.path() == "/slack").unwrap().body).unwrap();
    assert!(slack["text"].as_str().unwrap().starts_with("[Vigie] Verdure: calls to boycott"), "{slack:#}");
    assert_eq!(slack["blocks"][0]["type"], "section");
    let teams: Value = serde_json::from_slice(&got.iter().find(|r| r.url.path() == "/teams").unwrap().body).unwrap();
    assert_eq!(
        (teams["@type"].as_str(), teams["@context"].as_str()),
        (Some("MessageCard"), Some("https://schema.org/extensions"))
    );
    assert!(teams["title"].as_str().unwrap().contains("Verdure"), "{teams:#}");
    assert_eq!(
        got.iter().filter(|r| !["/night", "/moved"].contains(&r.url.path())).count(),
        2,
        "once each, and nothing of Lumen"
    );
    until("the email", WAIT, async || {
        email_outbox::Entity::find()
            .filter(email_outbox::Column::ToAddress.eq("member@agency.example"))
            .all(&app.services.db)
            .await
            .unwrap()
            .iter()
            .any(|e| e.subject.contains("Verdure"))
    })
    .await;

    // The quiet members' messages wait for the end of their quiet hours.
    assert!(got.iter().all(|r| !["/night", "/moved"].contains(&r.url.path())), "nothing during quiet hours");
    let held = notification::Entity::find()
        .filter(notification::Column::Channel.eq("slack"))
        .filter(notification::Column::Status.eq("pending"))
        .all(&app.services.db)
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    for row in held {
        let ends = row.next_attempt_at.unwrap();
        assert!(
            ends > now + Duration::minutes(100) && ends <= now + Duration::hours(2) + Duration::minutes(1),
            "{ends}"
        );
        // When they end, the sweep sends it.
        let mut ended: notification::ActiveModel = row.into();
        ended.next_attempt_at = Set(Some(vigie_domain::now() - Duration::seconds(1)));
        ended.update(&app.services.db).await.unwrap();
    }
    // Meanwhile one of them was taken off the brand: it is not told after all.
    let moved_id = app.ok(Some(&moved.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    let unassign = "mutation($m: ID!) { setMemberBrands(memberId: $m, brandIds: []) { id } }";
    app.ok(Some(t), unassign, json!({ "m": moved_id })).await;
    vigie_domain::notifications::sweep(System::for_tests(), &app.services).await.unwrap();
    until("the night member's message", WAIT, async || {
        receiver.received_requests().await.unwrap().iter().any(|r| r.url.path() == "/night")
    })
    .await;
    until("the moved member's message to be cancelled", WAIT, async || {
        notification::Entity::find()
            .filter(notification::Column::Status.eq("cancelled"))
            .all(&app.services.db)
            .await
            .unwrap()
            .len()
            == 1
    })
    .await;
    assert!(receiver.received_requests().await.unwrap().iter().all(|r| r.url.path() != "/moved"));
    drop(jobs);
}

on_both_databases!(members_hear_of_their_brands_where_and_when_they_chose);

const ADD_SHIFT: &str = "mutation($m: ID!, $s: DateTime!, $e: DateTime!) { addOnCallShift(input: { memberId: $m, startsAt: $s, endsAt: $e }) { id member { id } startsAt endsAt } }";

async fn sla_escalations_follow_the_on_call_rota(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = owner.access_token.as_str();
    let verdure = app
        .ok(Some(t), "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", handles: [{ network: MASTODON, handle: \"verdure\" }] }) { id } }", json!({}))
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = app.create_source(Some(t), &verdure).await;
    let on_call = app.invite_and_accept(t, "oncall@agency.example", "MEMBER", &[&verdure]).await;
    let elsewhere = app.invite_and_accept(t, "elsewhere@agency.example", "MEMBER", &[]).await;
    let client = app.invite_and_accept(t, "client@brand.example", "CLIENT_VIEWER", &[&verdure]).await;
    let id_of = |login: &vigie_tests::Login| {
        let (app, token) = (&app, login.access_token.clone());
        async move { app.ok(Some(&token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone() }
    };
    let (on_call_id, elsewhere_id, client_id) = (id_of(&on_call).await, id_of(&elsewhere).await, id_of(&client).await);
    let now = vigie_domain::now();
    let span =
        |from: i64, to: i64| ((now + Duration::hours(from)).to_rfc3339(), (now + Duration::hours(to)).to_rfc3339());

    // The rota: managers only, staff only, no overlap.
    let (s, e) = span(-1, 24);
    assert_error(
        &app.gql(Some(&on_call.access_token), ADD_SHIFT, json!({ "m": on_call_id, "s": s, "e": e })).await,
        "FORBIDDEN",
    );
    assert_error(&app.gql(Some(t), ADD_SHIFT, json!({ "m": client_id, "s": s, "e": e })).await, "BAD_USER_INPUT");
    assert_error(&app.gql(Some(t), ADD_SHIFT, json!({ "m": on_call_id, "s": e, "e": s })).await, "BAD_USER_INPUT");
    // Someone on call who does not see the brand answers for nothing of it.
    let first =
        app.ok(Some(t), ADD_SHIFT, json!({ "m": elsewhere_id, "s": s, "e": e })).await["addOnCallShift"].clone();
    let (s2, e2) = span(2, 30);
    assert_error(&app.gql(Some(t), ADD_SHIFT, json!({ "m": on_call_id, "s": s2, "e": e2 })).await, "CONFLICT");

    let ask = |id: &str| {
        let mut m = new_mention(id, "alice", "@verdure where is my refund? Please help, I am still waiting", 800);
        m.direct = true;
        m
    };
    let overdue = |app: &TestApp| {
        let db = app.services.db.clone();
        async move {
            for row in ticket::Entity::find().filter(ticket::Column::SlaState.eq("on_track")).all(&db).await.unwrap() {
                let mut row: ticket::ActiveModel = row.into();
                row.at_risk_at = Set(vigie_domain::now() - Duration::seconds(20));
                row.due_at = Set(vigie_domain::now() - Duration::seconds(10));
                row.update(&db).await.unwrap();
            }
        }
    };
    app.collect(&source, vec![ask("q1")]).await;
    overdue(&app).await;
    let jobs = app.start_jobs();
    until("the first ticket to breach", WAIT, async || {
        ticket::Entity::find().filter(ticket::Column::Breached.eq(true)).all(&app.services.db).await.unwrap().len() == 1
    })
    .await;
    let first_ticket = ticket::Entity::find().one(&app.services.db).await.unwrap().unwrap();
    assert_eq!(first_ticket.assignee_membership_id, None, "the member on call does not see the brand");

    // The member on call who sees the brand gets the ticket and the email.
    app.ok(Some(t), "mutation($id: ID!) { removeOnCallShift(id: $id) { deletedId } }", json!({ "id": first["id"] }))
        .await;
    app.ok(Some(t), ADD_SHIFT, json!({ "m": on_call_id, "s": s, "e": e })).await;
    let now_on_call = app.ok(Some(&elsewhere.access_token), "{ onCallNow { id } }", json!({})).await;
    assert_eq!(now_on_call["onCallNow"]["id"], on_call_id);
    app.collect(&source, vec![ask("q2")]).await;
    overdue(&app).await;
    until("the second ticket to breach", WAIT, async || {
        ticket::Entity::find().filter(ticket::Column::Breached.eq(true)).all(&app.services.db).await.unwrap().len() == 2
    })
    .await;
    let tickets =
        ticket::Entity::find().filter(ticket::Column::Id.ne(first_ticket.id)).all(&app.services.db).await.unwrap();
    assert_eq!(tickets[0].assignee_membership_id, Some(db_id(on_call_id.as_str().unwrap())));
    let mails = email_outbox::Entity::find()
        .filter(email_outbox::Column::ToAddress.eq("oncall@agency.example"))
        .all(&app.services.db)
        .await
        .unwrap();
    assert!(!mails.is_empty(), "the escalation email reaches the member on call");
    let breached =
        event::Entity::find().filter(event::Column::Kind.eq("sla.breached")).all(&app.services.db).await.unwrap();
    assert!(
        breached.iter().any(|e| e.payload["onCallMemberId"] == json!(db_id(on_call_id.as_str().unwrap()).to_string()))
    );
    drop(jobs);
}

on_both_databases!(sla_escalations_follow_the_on_call_rota);
