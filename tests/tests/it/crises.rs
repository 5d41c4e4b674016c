//! Crisis detection end to end: a calm baseline, then bursts of negative mentions open
//! one alert (then feed it), a macro author denouncing a stated value opens a value-gap
//! alert at once and puts the posts about that value on hold, and the lifecycle
//! (acknowledge, resolve, reopen) keeps its timeline; emails reach a real SMTP server.

use chrono::Duration;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_domain::crises::detect::detect;
use vigie_domain::entities::{brand, content_item, content_item_value, event};
use vigie_domain::mentions::store::NewMention;
use vigie_tests::smtp::SmtpServer;
use vigie_tests::{Backend, TestApp, assert_error, new_mention, on_both_databases};

const ALERTS: &str = "query($b: ID!, $f: AlertFilterInput) { alerts(brandId: $b, filter: $f, first: 5) { edges { node { \
    id kind severity status value { name } windowStart windowEnd \
    metrics { negativeCount reachWeighted baselineCountMean z zCount evidence maxFollowers } \
    explanation { summary topTerms topAuthors { handle followers mentions } sampleMentionIds } \
    timeline { kind actor { email } detail } mentions(first: 40) { id } } } } }";

async fn events(app: &TestApp, kind: &str) -> Vec<event::Model> {
    event::Entity::find().filter(event::Column::Kind.eq(kind)).all(&app.services.db).await.unwrap()
}

async fn list_alerts(app: &TestApp, token: &str, brand: &str, filter: Value) -> Vec<Value> {
    app.ok(Some(token), ALERTS, json!({ "b": brand, "f": filter })).await["alerts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn uuid(raw: &str) -> uuid::Uuid {
    vigie_tests::db_id(raw)
}

async fn bursts_open_one_alert_and_value_gaps_open_at_once(backend: Backend) {
    let smtp = SmtpServer::start();
    let app = TestApp::with_config(backend, &[("SMTP_URL", &smtp.url)]).await;
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(
            t,
            "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", trackedKeywords: [\"Verdure\"], crisisMinCount: 10, escalationEmails: [\"Crisis@Brand.example\"] }) { id crisisZThreshold crisisMinCount valueGapMinCount escalationEmails } }",
            json!({}),
        )
        .await["createBrand"]
        .clone();
    assert_eq!(brand["crisisZThreshold"], 3.0);
    assert_eq!(brand["valueGapMinCount"], 3);
    assert_eq!(brand["escalationEmails"], json!(["crisis@brand.example"]));
    let brand_id = brand["id"].as_str().unwrap().to_owned();
    let value = app
        .ok(t, "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Zéro plastique\", keywords: [\"plastique\", \"plastic\"] }) { id } }", json!({ "b": brand_id }))
        .await["createBrandValue"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = app.create_source(t, &brand_id).await;
    let alerts = |filter: Value| list_alerts(&app, &owner.access_token, &brand_id, filter);

    // A calm day: one disappointed customer every two hours, and happy ones.
    let now = vigie_domain::now();
    let mut calm = Vec::new();
    for i in 1..=12 {
        let mut m =
            new_mention(&format!("calm-{i}"), &format!("calm{i}"), "Verdure delivery was slow and disappointing", 300);
        m.published_at = now - Duration::hours(2 * i);
        calm.push(m);
        let mut happy = new_mention(&format!("happy-{i}"), &format!("happy{i}"), "I love Verdure, great shampoo", 300);
        happy.published_at = now - Duration::hours(2 * i) + Duration::minutes(30);
        calm.push(happy);
    }
    app.collect(&source, calm).await;
    assert!(
        detect(System::for_tests(), &app.services, uuid(&brand_id)).await.unwrap().is_empty(),
        "a calm day opens nothing"
    );

    // A burst: fifteen angry customers within minutes.
    let burst = |from: usize, followers: i64| {
        (from..from + 15)
            .map(|i| {
                let mut m = new_mention(
                    &format!("angry-{i}"),
                    &format!("angry{i}"),
                    "Verdure refund never arrived, terrible service and awful support",
                    followers,
                );
                m.published_at = vigie_domain::now() - Duration::minutes(1);
                m
            })
            .collect::<Vec<_>>()
    };
    app.collect(&source, burst(0, 2_000)).await;
    let opened = detect(System::for_tests(), &app.services, uuid(&brand_id)).await.unwrap();
    assert_eq!(opened.len(), 1, "one alert opens");
    let list = alerts(json!({ "kind": "NEGATIVE_SPIKE" })).await;
    assert_eq!(list.len(), 1);
    let alert = &list[0];
    assert_eq!(alert["status"], "OPEN");
    assert!(["LOW", "MEDIUM", "HIGH", "CRITICAL"].contains(&alert["severity"].as_str().unwrap()));
    assert_eq!(alert["metrics"]["negativeCount"], 15);
    assert_eq!(alert["metrics"]["evidence"], 15);
    assert!(alert["metrics"]["z"].as_f64().unwrap() >= 3.0, "{alert:#}");
    assert!(alert["metrics"]["baselineCountMean"].as_f64().unwrap() < 1.0, "{alert:#}");
    let explanation = &alert["explanation"];
    assert!(explanation["summary"].as_str().unwrap().starts_with("15 negative mentions"), "{explanation:#}");
    assert!(explanation["topTerms"].as_array().unwrap().contains(&json!("refund")), "{explanation:#}");
    assert_eq!(explanation["topAuthors"].as_array().unwrap().len(), 5);
    assert_eq!(explanation["sampleMentionIds"].as_array().unwrap().len(), 5);
    assert_eq!(alert["mentions"].as_array().unwrap().len(), 15);
    assert_eq!(alert["timeline"][0]["kind"], "opened");
    assert_eq!(events(&app, "crisis.opened").await.len(), 1);

    // The escalation contact hears of it.
    app.services.mailer.dispatch_due(System::for_tests(), &app.services.db).await.unwrap();
    let mail = smtp.wait_for("crisis@brand.example").await;
    assert!(mail.raw.contains("Verdure"), "{}", mail.raw);
    assert!(mail.raw.contains("text/html"));

    // Running detection again with nothing new changes nothing.
    assert!(detect(System::for_tests(), &app.services, uuid(&brand_id)).await.unwrap().is_empty());

    // A second burst feeds the same alert instead of opening another.
    app.collect(&source, burst(100, 2_000)).await;
    assert_eq!(detect(System::for_tests(), &app.services, uuid(&brand_id)).await.unwrap(), opened);
    let list = alerts(json!({ "kind": "NEGATIVE_SPIKE" })).await;
    assert_eq!(list.len(), 1, "never a second open alert of a kind");
    assert_eq!(list[0]["metrics"]["evidence"], 30);
    assert_eq!(list[0]["metrics"]["negativeCount"], 30);
    let steps: Vec<&str> =
        list[0]["timeline"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert!(steps.contains(&"evidence_added"), "{steps:?}");
    assert_eq!(events(&app, "crisis.opened").await.len(), 1);
    assert_eq!(events(&app, "crisis.updated").await.len(), 1, "evidence doubled: subscribers are told once");

    // Posts about the value, scheduled next week; one of them will be held.
    let held = content(&app, &owner.agency_id, &brand_id, "Our zero-plastic refills", Some(&value)).await;
    let other = content(&app, &owner.agency_id, &brand_id, "Meet our new team", None).await;

    // A macro author denounces the gap with the stated value: an alert at once.
    let mut star = new_mention(
        "star-1",
        "star",
        "@verdure vous promettez zéro PLASTIQUE mais mon colis en est plein, c'est honteux !",
        700_000,
    );
    star.published_at = vigie_domain::now() - Duration::minutes(2);
    app.collect(&source, vec![star]).await;
    detect(System::for_tests(), &app.services, uuid(&brand_id)).await.unwrap();
    let gaps = alerts(json!({ "kind": "VALUE_GAP" })).await;
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    let gap = &gaps[0];
    assert_eq!(gap["value"]["name"], "Zéro plastique");
    assert_eq!(gap["severity"], "HIGH", "a macro author");
    assert_eq!(gap["metrics"]["negativeCount"], 1);
    assert_eq!(gap["explanation"]["topAuthors"][0]["handle"], "star");
    assert_eq!(events(&app, "value_gap.opened").await.len(), 1);
    let gap_id = gap["id"].as_str().unwrap().to_owned();
    let item = |id: uuid::Uuid| {
        let db = app.services.db.clone();
        async move { content_item::Entity::find_by_id(id).one(&db).await.unwrap().unwrap() }
    };
    let held_now = item(held).await;
    assert_eq!((held_now.status.as_str(), held_now.hold_alert_id), ("on_hold", Some(uuid(&gap_id))));
    assert_eq!(item(other).await.status, "scheduled");
    assert_eq!(alerts(json!({ "minSeverity": "HIGH", "kind": "VALUE_GAP" })).await.len(), 1);

    // Lifecycle: acknowledge, resolve with a note, no reopening from old evidence, reopen.
    let ack = "mutation($id: ID!, $n: String) { acknowledgeAlert(id: $id, note: $n) { status acknowledgedAt } }";
    let data = app.ok(t, ack, json!({ "id": gap_id, "n": "On it" })).await;
    assert_eq!(data["acknowledgeAlert"]["status"], "ACKNOWLEDGED");
    assert_error(&app.gql(t, ack, json!({ "id": gap_id })).await, "BAD_USER_INPUT");
    let resolve =
        "mutation($id: ID!, $n: String!) { resolveAlert(id: $id, note: $n) { status resolvedAt resolutionNote } }";
    assert_error(&app.gql(t, resolve, json!({ "id": gap_id, "n": "  " })).await, "BAD_USER_INPUT");
    let data = app.ok(t, resolve, json!({ "id": gap_id, "n": "Supplier switched to paper" })).await;
    assert_eq!(data["resolveAlert"]["status"], "RESOLVED");
    assert_eq!(events(&app, "crisis.resolved").await.len(), 1);
    detect(System::for_tests(), &app.services, uuid(&brand_id)).await.unwrap();
    assert_eq!(alerts(json!({ "kind": "VALUE_GAP" })).await.len(), 1, "old evidence does not reopen it");
    let data = app.ok(t, "mutation($id: ID!) { reopenAlert(id: $id) { status } }", json!({ "id": gap_id })).await;
    assert_eq!(data["reopenAlert"]["status"], "OPEN");
    let gap = &alerts(json!({ "kind": "VALUE_GAP" })).await[0];
    let steps: Vec<&str> = gap["timeline"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(steps, ["opened", "content_held", "acknowledged", "resolved", "reopened"]);
    assert_eq!(gap["timeline"][2]["actor"]["email"], "owner@agency.example");
    assert_eq!(gap["timeline"][3]["detail"]["note"], "Supplier switched to paper");

    // A client viewer of the brand reads alerts but cannot act on them.
    let viewer =
        app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand_id]).await;
    let seen = app.ok(Some(&viewer.access_token), ALERTS, json!({ "b": brand_id })).await;
    assert_eq!(seen["alerts"]["edges"].as_array().unwrap().len(), 2);
    assert_error(&app.gql(Some(&viewer.access_token), ack, json!({ "id": gap_id })).await, "FORBIDDEN");
}
on_both_databases!(bursts_open_one_alert_and_value_gaps_open_at_once);

/// Inserts a scheduled calendar post (the calendar's API is another issue's).
async fn content(app: &TestApp, agency: &str, brand: &str, title: &str, value: Option<&str>) -> uuid::Uuid {
    let at = vigie_domain::now();
    let id = vigie_domain::new_id();
    content_item::ActiveModel {
        id: Set(id),
        agency_id: Set(uuid(agency)),
        brand_id: Set(uuid(brand)),
        channel: Set("instagram".into()),
        title: Set(title.into()),
        body: Set(format!("{title}.")),
        media: Set(json!([])),
        scheduled_at: Set(at + Duration::days(7)),
        status: Set("scheduled".into()),
        published_url: Set(None),
        hold_alert_id: Set(None),
        created_by: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&app.services.db)
    .await
    .unwrap();
    if let Some(value) = value {
        content_item_value::ActiveModel { content_item_id: Set(id), brand_value_id: Set(uuid(value)) }
            .insert(&app.services.db)
            .await
            .unwrap();
    }
    id
}

const STANCES: &str = "query($b: ID!) { mentions(brandId: $b, first: 50) { edges { node { text sentiment \
    valueStances { value { name } stance cues } } } } }";

/// A brand with a "Zéro plastique" and a "Cruelty free" value; returns the brand, the
/// values' ids and a source.
async fn brand_with_values(app: &TestApp, token: &str, name: &str) -> (String, String, String, String) {
    let t = Some(token);
    let query = "mutation($n: String!) { createBrand(input: { name: $n, timeZone: \"Europe/Paris\", trackedKeywords: [$n] }) { id } }";
    let brand = app.ok(t, query, json!({ "n": name })).await["createBrand"]["id"].as_str().unwrap().to_owned();
    let value = |name: &str, keywords: Value| {
        let query = "mutation($b: ID!, $n: String!, $k: [String!]!) { createBrandValue(input: { brandId: $b, name: $n, keywords: $k }) { id } }";
        let vars = json!({ "b": brand, "n": name, "k": keywords });
        async move { app.ok(t, query, vars).await["createBrandValue"]["id"].as_str().unwrap().to_owned() }
    };
    let plastic = value("Zéro plastique", json!(["plastique", "packaging", "emballage", "plastic free"])).await;
    let cruelty = value("Cruelty free", json!(["animal testing", "vegan"])).await;
    let source = app.create_source(t, &brand).await;
    (brand, plastic, cruelty, source)
}

fn mentions_at(prefix: &str, texts: &[(&str, i64)], at: chrono::DateTime<chrono::Utc>) -> Vec<NewMention> {
    texts
        .iter()
        .enumerate()
        .map(|(i, (text, followers))| {
            let mut m = new_mention(&format!("{prefix}-{i}"), &format!("{prefix}{i}"), text, *followers);
            m.published_at = at;
            m
        })
        .collect()
}

/// Accusation, praise and mere mention, in French and English, negated and quoted
/// claims included; GraphQL shows each stance with the words that decided it.
async fn mentions_say_how_they_speak_of_each_value(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let (brand, _, _, source) = brand_with_values(&app, &owner.access_token, "Verdure").await;
    let texts = [
        ("Verdure se dit zéro plastique mais mon colis était plein de film", 300),
        ("So much for cruelty free: Verdure's parent company still does animal testing", 300),
        ("Le nouveau packaging de Verdure, c'est du greenwashing pur", 300),
        ("Verdure claims to be plastic free but everything comes shrink-wrapped", 300),
        ("Bravo Verdure, vraiment zéro plastique, j'adore ce shampoing 😍", 300),
        ("Love that Verdure is truly cruelty free, great products and so vegan friendly", 300),
        ("Le packaging Verdure est arrivé abîmé", 300),
        ("My Verdure packaging arrived crushed", 300),
        ("Ce n'est pas du greenwashing : Verdure publie ses chiffres sur le plastique", 300),
        ("Notre engagement « zéro plastique » : des recharges pour tous vos flacons Verdure", 300),
        ("Verdure shampoo is nice", 300),
    ];
    app.collect(&source, mentions_at("s", &texts, vigie_domain::now() - Duration::hours(1))).await;
    let data = app.ok(Some(&owner.access_token), STANCES, json!({ "b": brand })).await;
    let read = |text: &str| {
        let node = data["mentions"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).find(|n| n["text"] == text);
        node.unwrap_or_else(|| panic!("{text} not stored")).clone()
    };
    let stance = |text: &str| -> Vec<(String, String)> {
        let node = read(text);
        node["valueStances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["value"]["name"].as_str().unwrap().to_owned(), s["stance"].as_str().unwrap().to_owned()))
            .collect()
    };
    let one = |value: &str, stance: &str| vec![(value.to_owned(), stance.to_owned())];
    assert_eq!(stance(texts[0].0), one("Zéro plastique", "ACCUSES"));
    let cues = read(texts[0].0)["valueStances"][0]["cues"].clone();
    assert_eq!(cues, json!(["zero plastique", "se dit", "mais"]));
    assert_eq!(stance(texts[1].0), one("Cruelty free", "ACCUSES"));
    assert_eq!(stance(texts[2].0), one("Zéro plastique", "ACCUSES"));
    assert_eq!(read(texts[2].0)["valueStances"][0]["cues"][1], "greenwashing");
    assert_eq!(stance(texts[3].0), one("Zéro plastique", "ACCUSES"));
    assert_eq!(stance(texts[4].0), one("Zéro plastique", "PRAISES"), "{}", read(texts[4].0));
    assert_eq!(stance(texts[5].0), one("Cruelty free", "PRAISES"), "{}", read(texts[5].0));
    assert_eq!(stance(texts[6].0), one("Zéro plastique", "MENTIONS"));
    assert_eq!(stance(texts[7].0), one("Zéro plastique", "MENTIONS"));
    let negated = read(texts[8].0);
    assert_ne!(negated["valueStances"][0]["stance"], "ACCUSES", "{negated}");
    assert!(negated["valueStances"][0]["cues"].as_array().unwrap().contains(&json!("pas du greenwashing")));
    assert_ne!(read(texts[9].0)["valueStances"][0]["stance"], "ACCUSES", "the brand's own claim, quoted");
    assert!(stance(texts[10].0).is_empty());
    // Only accusations are stored as such, for detection's index.
    let accusing = vigie_domain::entities::mention::Entity::find()
        .filter(vigie_domain::entities::mention::Column::AccusesValue.eq(true))
        .all(&app.services.db)
        .await
        .unwrap();
    assert_eq!(accusing.len(), 4);
}
on_both_databases!(mentions_say_how_they_speak_of_each_value);

const GAPS: &str = "query($b: ID!) { alerts(brandId: $b, filter: { kind: VALUE_GAP }, first: 5) { edges { node { \
    id severity status metrics { negativeCount baselineCountMean z evidence } explanation { summary topTerms } \
    timeline { kind detail } } } } }";

async fn gaps(app: &TestApp, token: &str, brand: &str) -> Vec<Value> {
    let data = app.ok(Some(token), GAPS, json!({ "b": brand })).await;
    data["alerts"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

const ACCUSATION: &str = "Verdure se dit zéro plastique mais tout arrive sous film";

/// Ordinary traffic opens nothing however often it touches a value's keywords; a brand
/// without history alarms from the floor; a brand usually accused needs far more; a
/// macro author's plain complaint opens nothing, its accusation opens at once.
async fn value_gaps_follow_the_brand_baseline(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let token = owner.access_token.as_str();
    let now = vigie_domain::now();

    // A new brand, a day of ordinary traffic: complaints about packaging, one of them by
    // a macro author, happy customers; no accusation.
    let (fresh, _, _, source) = brand_with_values(&app, token, "Verdure").await;
    let mut ordinary = Vec::new();
    for i in 0..60 {
        let text = match i % 3 {
            0 => "Le packaging Verdure est arrivé abîmé, un peu déçue",
            1 => "Packaging cassé encore une fois, Verdure faites quelque chose",
            _ => "J'adore le shampoing Verdure",
        };
        let mut m = new_mention(&format!("o-{i}"), &format!("client{i}"), text, 200);
        m.published_at = now - Duration::minutes(20 * i);
        ordinary.push(m);
    }
    let mut star = new_mention("o-star", "star", "Packaging Verdure reçu cassé, franchement nul", 900_000);
    star.published_at = now - Duration::hours(2);
    ordinary.push(star);
    app.collect(&source, ordinary).await;
    let brand_id = uuid(&fresh);
    assert!(
        detect(System::for_tests(), &app.services, brand_id).await.unwrap().is_empty(),
        "{:?}",
        gaps(&app, token, &fresh).await
    );

    // Two accusations: under the floor of three.
    app.collect(&source, mentions_at("a", &[(ACCUSATION, 300), (ACCUSATION, 300)], now - Duration::minutes(5))).await;
    assert!(detect(System::for_tests(), &app.services, brand_id).await.unwrap().is_empty());
    let item = content(&app, &owner.agency_id, &fresh, "Nos recharges", None).await;
    app.collect(&source, mentions_at("b", &[(ACCUSATION, 300)], now - Duration::minutes(1))).await;
    let opened = detect(System::for_tests(), &app.services, brand_id).await.unwrap();
    let all = app.ok(Some(token), ALERTS, json!({ "b": fresh })).await;
    assert_eq!(opened.len(), 1, "{all:#}");
    let found = gaps(&app, token, &fresh).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["severity"], "MEDIUM");
    assert_eq!(found[0]["metrics"]["negativeCount"], 3);
    assert_eq!(found[0]["metrics"]["evidence"], 3, "only the accusations are evidence");
    assert_eq!(found[0]["metrics"]["baselineCountMean"], 0.0);
    let summary = found[0]["explanation"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("3 accusations of failing \"Zéro plastique\""), "{summary}");
    assert_eq!(found[0]["explanation"]["topTerms"], json!(["mais", "se dit"]));
    let _ = item;

    // A brand accused about four times a day for four weeks: five today is its usual.
    let (usual, _, _, source) = brand_with_values(&app, token, "Habituée").await;
    let mut history = Vec::new();
    for day in 1..=28 {
        for k in 0..(3 + day % 3) {
            let mut m = new_mention(&format!("h-{day}-{k}"), &format!("critic{k}"), ACCUSATION, 300);
            m.published_at = now - Duration::days(day) - Duration::hours(2 * k);
            history.push(m);
        }
    }
    app.collect(&source, history).await;
    let texts: Vec<(&str, i64)> = (0..5).map(|_| (ACCUSATION, 300)).collect();
    app.collect(&source, mentions_at("t", &texts, now - Duration::hours(3))).await;
    assert!(
        detect(System::for_tests(), &app.services, uuid(&usual)).await.unwrap().is_empty(),
        "{:?}",
        gaps(&app, token, &usual).await
    );
    let texts: Vec<(&str, i64)> = (0..10).map(|_| (ACCUSATION, 300)).collect();
    app.collect(&source, mentions_at("u", &texts, now - Duration::minutes(2))).await;
    // Ten negative mentions in two minutes are a negative spike as well.
    assert_eq!(detect(System::for_tests(), &app.services, uuid(&usual)).await.unwrap().len(), 2);
    let found = gaps(&app, token, &usual).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["metrics"]["negativeCount"], 15);
    let mean = found[0]["metrics"]["baselineCountMean"].as_f64().unwrap();
    assert!((3.0..5.0).contains(&mean), "{mean}");
    let summary = found[0]["explanation"]["summary"].as_str().unwrap();
    assert!(summary.contains("against a usual"), "{summary}");

    // A macro author who accuses opens an alert at once, high enough to hold posts.
    let (third, value, _, source) = brand_with_values(&app, token, "Troisième").await;
    let held = content(&app, &owner.agency_id, &third, "Nos recharges", Some(&value)).await;
    app.collect(&source, mentions_at("m", &[(ACCUSATION, 800_000)], now - Duration::minutes(3))).await;
    assert_eq!(detect(System::for_tests(), &app.services, uuid(&third)).await.unwrap().len(), 1);
    let found = gaps(&app, token, &third).await;
    assert_eq!(found[0]["severity"], "HIGH");
    assert!(found[0]["explanation"]["summary"].as_str().unwrap().starts_with("a macro author"));
    let item = content_item::Entity::find_by_id(held).one(&app.services.db).await.unwrap().unwrap();
    assert_eq!((item.status.as_str(), item.hold_alert_id), ("on_hold", Some(uuid(found[0]["id"].as_str().unwrap()))));

    // The summary in the reader's language, and in the brand's on its French report page.
    let summary = "query($b: ID!, $l: String) { alerts(brandId: $b, first: 1) { edges { node { explanation(language: $l) { summary } } } } }";
    let french = app.ok(Some(token), summary, json!({ "b": third, "l": "fr" })).await;
    assert_eq!(
        french["alerts"]["edges"][0]["node"]["explanation"]["summary"],
        "un auteur macro (800000 abonnés) accuse la marque de trahir « Zéro plastique »"
    );
    let unknown = app.gql(Some(token), summary, json!({ "b": third, "l": "xx" })).await;
    assert_eq!(vigie_tests::error_codes(&unknown), ["BAD_USER_INPUT"], "{unknown:#}");
    let mut model = brand::Entity::find_by_id(uuid(&third)).one(&app.services.db).await.unwrap().unwrap();
    model.language = "fr".into();
    model.name = "<b>Troisième</b> & \"Co\"".into();
    let sections = vigie_domain::reports::Section::ALL.to_vec();
    let mut report = vigie_domain::reports::build(
        System::for_tests(),
        &app.services.db,
        model,
        now - Duration::days(1),
        now + Duration::hours(1),
        sections,
    )
    .await
    .unwrap();
    report.influencers.push(vigie_domain::reports::Influencer {
        handle: "<img src=x onerror=alert(1)>".into(),
        network: "mastodon".into(),
        score: 71.0,
        tier: "mega".into(),
        stance: "detractor".into(),
        components: Default::default(),
    });
    let page = vigie_domain::reports::html::render(&report, "https://vigie.example/r/vgs_x").unwrap();
    for words in [
        "<html lang=\"fr\">",
        "Principaux influenceurs",
        "<td>méga</td><td>détracteur</td>",
        "<td>écart aux valeurs</td><td>haute</td><td>ouverte</td>",
        "un auteur macro (800000 abonnés) accuse la marque de trahir « Zéro plastique »",
        "&lt;b&gt;Troisième&lt;&#x2f;b&gt; &amp; &quot;Co&quot;",
        "@&lt;img src=x onerror=alert(1)&gt;",
    ] {
        assert!(page.contains(words), "{words:?} missing from {page}");
    }
    assert!(!page.contains("<b>Troisième") && !page.contains("<img"), "escaped");
}
on_both_databases!(value_gaps_follow_the_brand_baseline);

/// Holds start at the severity the brand chose; a false alarm closes the alert and gives
/// the posts it held their status back; only managers judge.
async fn holds_follow_the_chosen_severity_and_false_alarms_release_them(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let token = owner.access_token.as_str();
    let t = Some(token);
    let now = vigie_domain::now();

    // Default (HIGH): a medium alert holds nothing until it grows.
    let (patient, value, _, source) = brand_with_values(&app, token, "Verdure").await;
    let item = content(&app, &owner.agency_id, &patient, "Nos recharges", Some(&value)).await;
    let status = |id: uuid::Uuid| {
        let db = app.services.db.clone();
        async move {
            let item = content_item::Entity::find_by_id(id).one(&db).await.unwrap().unwrap();
            (item.status, item.hold_alert_id)
        }
    };
    let three: Vec<(&str, i64)> = (0..3).map(|_| (ACCUSATION, 300)).collect();
    app.collect(&source, mentions_at("p", &three, now - Duration::minutes(4))).await;
    detect(System::for_tests(), &app.services, uuid(&patient)).await.unwrap();
    let found = gaps(&app, token, &patient).await;
    assert_eq!(found[0]["severity"], "MEDIUM");
    assert_eq!(status(item).await, ("scheduled".to_owned(), None), "below the brand's hold severity");
    app.collect(&source, mentions_at("q", &three, now - Duration::minutes(2))).await;
    detect(System::for_tests(), &app.services, uuid(&patient)).await.unwrap();
    let found = gaps(&app, token, &patient).await;
    assert_eq!(found[0]["severity"], "HIGH", "twice the threshold");
    let alert_id = found[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(status(item).await, ("on_hold".to_owned(), Some(uuid(&alert_id))));
    let steps: Vec<&str> =
        found[0]["timeline"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(steps, ["opened", "evidence_added", "severity_raised", "content_held"]);

    // Only managers judge.
    let judge = "mutation($id: ID!, $v: AlertVerdict!, $n: String) { judgeAlert(id: $id, verdict: $v, note: $n) { \
        status verdict verdictNote judgedAt resolutionNote timeline { kind detail } } }";
    let member = app.invite_and_accept(token, "member@agency.example", "MEMBER", &[&patient]).await;
    let viewer = app.invite_and_accept(token, "client@brand.example", "CLIENT_VIEWER", &[&patient]).await;
    for intruder in [&member, &viewer] {
        let vars = json!({ "id": alert_id, "v": "FALSE_ALARM" });
        assert_error(&app.gql(Some(&intruder.access_token), judge, vars).await, "FORBIDDEN");
    }
    assert_eq!(status(item).await.0, "on_hold");

    // A false alarm: resolved, the post back to scheduled, subscribers told.
    let vars = json!({ "id": alert_id, "v": "FALSE_ALARM", "n": "a customer quoting our own ad" });
    let judged = app.ok(t, judge, vars).await["judgeAlert"].clone();
    assert_eq!(judged["status"], "RESOLVED");
    assert_eq!(judged["verdict"], "FALSE_ALARM");
    assert_eq!(judged["verdictNote"], "a customer quoting our own ad");
    assert_eq!(judged["resolutionNote"], "a customer quoting our own ad");
    assert!(judged["judgedAt"].is_string());
    let last = judged["timeline"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["kind"].as_str(), last["detail"]["released"].as_i64()), (Some("judged"), Some(1)));
    assert_eq!(status(item).await, ("scheduled".to_owned(), None));
    let resolved = events(&app, "crisis.resolved").await;
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].payload["alert"]["verdict"], "false_alarm");
    // Confirming a closed false alarm asks to reopen it first; only managers reopen a
    // judged alert, which clears the verdict and holds the posts again.
    let vars = json!({ "id": alert_id, "v": "CONFIRMED" });
    assert_error(&app.gql(t, judge, vars.clone()).await, "BAD_USER_INPUT");
    let reopen = "mutation($id: ID!) { reopenAlert(id: $id) { status verdict } }";
    assert_error(&app.gql(Some(&member.access_token), reopen, json!({ "id": alert_id })).await, "FORBIDDEN");
    let reopened = app.ok(t, reopen, json!({ "id": alert_id })).await["reopenAlert"].clone();
    assert_eq!((reopened["status"].as_str(), reopened["verdict"].is_null()), (Some("OPEN"), true));
    assert_eq!(status(item).await, ("on_hold".to_owned(), Some(uuid(&alert_id))));
    assert_eq!(app.ok(t, judge, vars).await["judgeAlert"]["verdict"], "CONFIRMED");
    assert_eq!(events(&app, "crisis.updated").await.last().unwrap().payload["change"], "judged");

    // Only managers change the severity that holds posts.
    let query = "mutation($b: ID!) { updateBrand(input: { id: $b, holdMinSeverity: CRITICAL }) { holdMinSeverity } }";
    assert_error(&app.gql(Some(&member.access_token), query, json!({ "b": patient })).await, "FORBIDDEN");

    // A post about two values, held by the first alert: when that one is a false alarm,
    // the second alert, open and serious, holds it instead.
    let (double, plastic, cruelty, source) = brand_with_values(&app, token, "Double").await;
    let both = content(&app, &owner.agency_id, &double, "Nos engagements", Some(&plastic)).await;
    content_item_value::ActiveModel { content_item_id: Set(both), brand_value_id: Set(uuid(&cruelty)) }
        .insert(&app.services.db)
        .await
        .unwrap();
    app.collect(&source, mentions_at("d1", &[(ACCUSATION, 800_000)], now - Duration::minutes(3))).await;
    detect(System::for_tests(), &app.services, uuid(&double)).await.unwrap();
    let first = status(both).await.1.expect("held by the first alert");
    let second_text = "So much for Double's cruelty free promise, they still do animal testing";
    app.collect(&source, mentions_at("d2", &[(second_text, 900_000)], now - Duration::minutes(2))).await;
    detect(System::for_tests(), &app.services, uuid(&double)).await.unwrap();
    let vars = json!({ "id": first.to_string(), "v": "FALSE_ALARM" });
    let judged = app.ok(t, judge, vars).await["judgeAlert"].clone();
    assert_eq!(judged["timeline"].as_array().unwrap().last().unwrap()["detail"]["released"], 0);
    let (state, holder) = status(both).await;
    assert_eq!(state, "on_hold");
    assert!(holder.is_some_and(|h| h != first), "the second alert holds it now");

    // A brand that holds from MEDIUM: three accusations hold at once.
    let (careful, value, _, source) = brand_with_values(&app, token, "Prudente").await;
    let query = "mutation($b: ID!) { updateBrand(input: { id: $b, holdMinSeverity: MEDIUM }) { holdMinSeverity } }";
    assert_eq!(app.ok(t, query, json!({ "b": careful })).await["updateBrand"]["holdMinSeverity"], "MEDIUM");
    let item = content(&app, &owner.agency_id, &careful, "Nos recharges", Some(&value)).await;
    app.collect(&source, mentions_at("c", &three, now - Duration::minutes(4))).await;
    detect(System::for_tests(), &app.services, uuid(&careful)).await.unwrap();
    let found = gaps(&app, token, &careful).await;
    assert_eq!(found[0]["severity"], "MEDIUM");
    assert_eq!(status(item).await, ("on_hold".to_owned(), Some(uuid(found[0]["id"].as_str().unwrap()))));
}
on_both_databases!(holds_follow_the_chosen_severity_and_false_alarms_release_them);

/// `alertPrecision` against counts made by hand, and the same figures in the report.
async fn precision_counts_verdicts_per_kind(backend: Backend) {
    use vigie_domain::entities::alert;
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence Vigie", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let (brand, _, _, _) = brand_with_values(&app, &owner.access_token, "Verdure").await;
    let from = vigie_domain::now() - Duration::days(30);
    let to = vigie_domain::now();
    // Value gaps in the period: 3 confirmed, 1 false alarm, 1 not judged; spikes: 2 not
    // judged and 1 confirmed; and a confirmed value gap before the period.
    let rows = [
        ("value_gap", Some("confirmed"), 2),
        ("value_gap", Some("confirmed"), 5),
        ("value_gap", Some("confirmed"), 9),
        ("value_gap", Some("false_alarm"), 12),
        ("value_gap", None, 20),
        ("negative_spike", None, 3),
        ("negative_spike", None, 4),
        ("negative_spike", Some("confirmed"), 6),
        ("value_gap", Some("confirmed"), 45),
    ];
    for (kind, verdict, days_ago) in rows {
        let at = to - Duration::days(days_ago);
        alert::ActiveModel {
            id: Set(vigie_domain::new_id()),
            agency_id: Set(uuid(&owner.agency_id)),
            brand_id: Set(uuid(&brand)),
            kind: Set(kind.into()),
            severity: Set("medium".into()),
            status: Set("resolved".into()),
            brand_value_id: Set(None),
            window_start: Set(at),
            window_end: Set(at),
            metrics: Set(json!({})),
            explanation: Set(json!({})),
            opened_at: Set(at),
            acknowledged_at: Set(None),
            resolved_at: Set(Some(at)),
            resolution_note: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
            open_key: Set(None),
            verdict: Set(verdict.map(Into::into)),
            verdict_note: Set(None),
            judged_at: Set(verdict.map(|_| at)),
        }
        .insert(&app.services.db)
        .await
        .unwrap();
    }
    let query = "query($b: ID!, $f: DateTime!, $t: DateTime!) { alertPrecision(brandId: $b, from: $f, to: $t) { \
        kind opened judged confirmed falseAlarms precision } }";
    let data = app.ok(t, query, json!({ "b": brand, "f": from, "t": to })).await;
    assert_eq!(
        data["alertPrecision"],
        json!([
            { "kind": "NEGATIVE_SPIKE", "opened": 3, "judged": 1, "confirmed": 1, "falseAlarms": 0, "precision": 1.0 },
            { "kind": "VALUE_GAP", "opened": 5, "judged": 4, "confirmed": 3, "falseAlarms": 1, "precision": 0.75 },
            { "kind": "MOBILISATION", "opened": 0, "judged": 0, "confirmed": 0, "falseAlarms": 0, "precision": null },
            { "kind": "POSITIVE_SPIKE", "opened": 0, "judged": 0, "confirmed": 0, "falseAlarms": 0, "precision": null },
        ])
    );
    let bad = app.gql(t, query, json!({ "b": brand, "f": to, "t": from })).await;
    assert_error(&bad, "BAD_USER_INPUT");

    // The report (and so the digest) says the same.
    let model = vigie_domain::entities::brand::Entity::find_by_id(uuid(&brand)).one(&app.services.db).await.unwrap();
    let sections = vigie_domain::reports::Section::ALL.to_vec();
    let report =
        vigie_domain::reports::build(System::for_tests(), &app.services.db, model.unwrap(), from, to, sections)
            .await
            .unwrap();
    assert_eq!(
        vigie_domain::reports::html::precision_summary(&report.precision, "en"),
        "Alert precision: negative spikes 1 confirmed of 1 judged (100%); value gaps 3 confirmed of 4 judged (75%)"
    );
    assert_eq!(
        vigie_domain::reports::html::precision_summary(&report.precision, "fr"),
        "Justesse des alertes : pics négatifs 1 confirmée sur 1 jugée (100 %); écarts aux valeurs 3 confirmées sur 4 jugées (75 %)"
    );
}
on_both_databases!(precision_counts_verdicts_per_kind);
