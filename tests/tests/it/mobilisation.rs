//! Mobilisation and positive-spike alerts: calls to boycott in French and English open
//! a mobilisation alert with its hashtags, first and most shared posts; one call by a
//! macro author opens it at once; praise going viral opens a positive spike, which
//! emails no escalation contact; competitors' boycotts and ordinary complaints open
//! nothing.

use chrono::Duration;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_domain::crises::detect::detect;
use vigie_domain::entities::{brand, email_outbox, event, source};
use vigie_domain::mentions::store::{self, NewMention, Provenance};
use vigie_tests::{Backend, TestApp, db_id, new_mention, on_both_databases};

const ALERTS: &str = "query($b: ID!, $f: AlertFilterInput) { alerts(brandId: $b, filter: $f, first: 5) { edges { node { \
    id kind severity metrics { negativeCount maxFollowers } \
    explanation { summary topAuthors { handle } sampleMentionIds topHashtags firstMentionIds mostSharedMentionIds } \
    mentions(first: 40) { id externalId } } } } }";

async fn alerts(app: &TestApp, token: &str, brand: &str, kind: &str) -> Vec<Value> {
    app.ok(Some(token), ALERTS, json!({ "b": brand, "f": { "kind": kind } })).await["alerts"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

async fn events(app: &TestApp, kind: &str) -> usize {
    event::Entity::find().filter(event::Column::Kind.eq(kind)).all(&app.services.db).await.unwrap().len()
}

/// A post published `minutes` ago.
fn post(id: &str, handle: &str, text: &str, followers: i64, minutes: i64) -> NewMention {
    let mut m = new_mention(id, handle, text, followers);
    m.published_at = vigie_domain::now() - Duration::minutes(minutes);
    m
}

async fn brand(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let query = "mutation($n: String!) { createBrand(input: { name: $n, timeZone: \"Europe/Paris\", trackedKeywords: [$n], \
        escalationEmails: [\"crisis@brand.example\"] }) { id } }";
    let id = app.ok(Some(token), query, json!({ "n": name })).await["createBrand"]["id"].as_str().unwrap().to_owned();
    let source = app.create_source(Some(token), &id).await;
    (id, source)
}

async fn calls_to_boycott_open_a_mobilisation_alert(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = owner.access_token.as_str();
    let (verdure, source) = brand(&app, t, "Verdure").await;
    app.ok(
        Some(t),
        "mutation($b: ID!) { createCompetitor(input: { brandId: $b, name: \"Herbalia\" }) { id } }",
        json!({ "b": verdure }),
    )
    .await;
    // A week of ordinary traffic, complaints included, then a competitor's boycott and
    // two calls against the brand: below the floor of three.
    let mut calm: Vec<NewMention> = (0..24)
        .map(|i| {
            post(
                &format!("calm-{i}"),
                &format!("calm{i}"),
                "Verdure delivery was slow and disappointing",
                300,
                60 * 7 * i + 90,
            )
        })
        .collect();
    calm.push(post("rival-1", "angry1", "Boycott Herbalia! #BoycottHerbalia", 300, 20));
    calm.push(post("rival-2", "angry2", "N'achetez plus Herbalia", 300, 15));
    calm.push(post("rival-3", "angry3", "Stop buying Herbalia, sign the petition", 300, 10));
    calm.push(post("call-1", "first", "Boycottez Verdure, ils testent sur les animaux #BoycottVerdure", 800, 50));
    let mut shared = post(
        "call-2",
        "loud",
        "Stop buying Verdure until they stop animal testing #BoycottVerdure #VerdureOut",
        2_000,
        30,
    );
    shared.shares = 900;
    calm.push(shared);
    app.collect(&source, calm).await;
    assert!(
        detect(System::for_tests(), &app.services, db_id(&verdure)).await.unwrap().is_empty(),
        "two calls are not yet a movement"
    );

    app.collect(
        &source,
        vec![post("call-3", "third", "N'achetez plus Verdure, signez la pétition #BoycottVerdure", 150, 5)],
    )
    .await;
    let opened = detect(System::for_tests(), &app.services, db_id(&verdure)).await.unwrap();
    assert_eq!(opened.len(), 1, "one alert: the mobilisation");
    let list = alerts(&app, t, &verdure, "MOBILISATION").await;
    assert_eq!(list.len(), 1);
    let alert = &list[0];
    assert_eq!(alert["metrics"]["negativeCount"], 3, "{alert:#}");
    assert!(["MEDIUM", "HIGH", "CRITICAL"].contains(&alert["severity"].as_str().unwrap()), "{alert:#}");
    let explanation = &alert["explanation"];
    assert!(
        explanation["summary"].as_str().unwrap().starts_with("3 calls to act against the brand"),
        "{explanation:#}"
    );
    assert_eq!(explanation["topHashtags"][0], "#boycottverdure", "{explanation:#}");
    assert!(explanation["topHashtags"].as_array().unwrap().contains(&json!("#verdureout")));
    let external = |id: &Value| {
        alert["mentions"].as_array().unwrap().iter().find(|m| m["id"] == *id).map(|m| m["externalId"].clone()).unwrap()
    };
    assert_eq!(external(&explanation["firstMentionIds"][0]), "call-1");
    assert_eq!(external(&explanation["mostSharedMentionIds"][0]), "call-2");
    let mut linked: Vec<String> =
        alert["mentions"].as_array().unwrap().iter().map(|m| m["externalId"].as_str().unwrap().to_owned()).collect();
    linked.sort();
    assert_eq!(linked, ["call-1", "call-2", "call-3"], "the competitor's boycott is not the brand's");
    assert_eq!(events(&app, "mobilisation.opened").await, 1);
    let emails = email_outbox::Entity::find().all(&app.services.db).await.unwrap();
    assert!(emails.iter().any(|e| e.subject.contains("calls to boycott")), "the escalation contacts hear of it");
    assert!(alerts(&app, t, &verdure, "NEGATIVE_SPIKE").await.is_empty(), "the week's complaints are no spike");

    // One call by a macro author opens it at once for another brand.
    let (lumen, lumen_source) = brand(&app, t, "Lumen").await;
    app.collect(
        &lumen_source,
        vec![post("macro", "star", "Don't buy Lumen anymore, they lied to all of us", 800_000, 3)],
    )
    .await;
    assert_eq!(detect(System::for_tests(), &app.services, db_id(&lumen)).await.unwrap().len(), 1);
    let list = alerts(&app, t, &lumen, "MOBILISATION").await;
    assert!(
        list[0]["explanation"]["summary"].as_str().unwrap().contains("calls to act against the brand"),
        "{:#}",
        list[0]
    );
    assert_eq!(list[0]["metrics"]["maxFollowers"], 800_000);

    // One account posting three calls is not three people, and an audience a pusher
    // claims opens nothing at once.
    let (zephyr, zephyr_source) = brand(&app, t, "Zephyr").await;
    let spam: Vec<NewMention> =
        (0..3).map(|i| post(&format!("spam-{i}"), "loner", "Boycottez Zephyr ! #BoycottZephyr", 50, 10 + i)).collect();
    app.collect(&zephyr_source, spam).await;
    let claimed = vec![post("claimed", "pretender", "Don't buy Zephyr anymore, they lied to all of us", 5_000_000, 3)];
    let db = &app.services.db;
    let zephyr_brand = brand::Entity::find_by_id(db_id(&zephyr)).one(db).await.unwrap().unwrap();
    let zephyr_source = source::Entity::find_by_id(db_id(&zephyr_source)).one(db).await.unwrap().unwrap();
    store::store(System::for_tests(), &app.services, &zephyr_brand, &zephyr_source, claimed, Provenance::Pushed)
        .await
        .unwrap();
    assert!(detect(System::for_tests(), &app.services, db_id(&zephyr)).await.unwrap().is_empty());
}

on_both_databases!(calls_to_boycott_open_a_mobilisation_alert);

async fn praise_going_viral_opens_a_positive_spike(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = owner.access_token.as_str();
    let (verdure, source) = brand(&app, t, "Verdure").await;
    let mut calm: Vec<NewMention> = (0..12)
        .map(|i| post(&format!("calm-{i}"), &format!("calm{i}"), "I love Verdure, great shampoo", 300, 120 * i + 60))
        .collect();
    calm.push(post("q", "asker", "Does Verdure ship to Belgium?", 300, 200));
    app.collect(&source, calm).await;
    assert!(
        detect(System::for_tests(), &app.services, db_id(&verdure)).await.unwrap().is_empty(),
        "praise every two hours is no news"
    );
    let viral: Vec<NewMention> = (0..15)
        .map(|i| {
            post(
                &format!("viral-{i}"),
                &format!("fan{i}"),
                "I love Verdure, this new shampoo is amazing and great",
                2_000,
                2,
            )
        })
        .collect();
    app.collect(&source, viral).await;
    assert_eq!(detect(System::for_tests(), &app.services, db_id(&verdure)).await.unwrap().len(), 1);
    let list = alerts(&app, t, &verdure, "POSITIVE_SPIKE").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["metrics"]["negativeCount"], 15, "the count of the spike's mentions");
    assert!(list[0]["explanation"]["summary"].as_str().unwrap().starts_with("15 positive mentions"), "{:#}", list[0]);
    assert_eq!(events(&app, "positive_spike.opened").await, 1);
    assert_eq!(events(&app, "crisis.opened").await, 0);
    let emails = email_outbox::Entity::find().all(&app.services.db).await.unwrap();
    assert!(
        emails.is_empty(),
        "good news waits for the digest: {:?}",
        emails.iter().map(|e| &e.subject).collect::<Vec<_>>()
    );
}

on_both_databases!(praise_going_viral_opens_a_positive_spike);
