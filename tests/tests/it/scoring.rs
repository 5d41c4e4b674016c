//! Scoring end to end: collected mentions are scored (language, sentiment, brand values,
//! solicitations with priority), their authors ranked as influencers with explainable
//! scores, and `influencer.discovered` / `mention.solicitation` events written once.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_domain::entities::{brand, event, source};
use vigie_tests::{Backend, TestApp, new_mention, on_both_databases};

async fn events(app: &TestApp, kind: &str) -> Vec<event::Model> {
    event::Entity::find().filter(event::Column::Kind.eq(kind)).all(&app.services.db).await.unwrap()
}

/// An agency with a brand and a source, as models, for tests that call the domain.
async fn brand_and_source(app: &TestApp) -> (brand::Model, source::Model) {
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let brand_id = app.create_brand(&owner.access_token, "Verdure").await;
    let source_id = app.create_source(Some(&owner.access_token), &brand_id).await;
    let db = &app.services.db;
    let source = source::Entity::find_by_id(vigie_tests::db_id(&source_id)).one(db).await.unwrap().unwrap();
    let brand = brand::Entity::find_by_id(source.brand_id).one(db).await.unwrap().unwrap();
    (brand, source)
}

/// Jobs of `kind` waiting or running.
async fn queue_depth(app: &TestApp, kind: &str) -> u64 {
    app.services.queue().status(&[kind.to_owned()]).await.unwrap()[0].depth
}

async fn mentions_are_scored_and_authors_ranked(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(
            t,
            "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", discoveryThreshold: 40, handles: [{ network: MASTODON, handle: \"verdure_fr\" }] }) { id } }",
            json!({}),
        )
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let value = app
        .ok(t, "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Zéro plastique\", keywords: [\"plastique\", \"plastic\"] }) { id } }", json!({ "b": brand }))
        .await["createBrandValue"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = app.create_source(t, &brand).await;

    let mut angry = new_mention(
        "m1",
        "star",
        "@verdure_fr vous promettez zéro PLASTIQUE mais mon colis en est plein, c'est honteux !",
        2_000_000,
    );
    angry.likes = 30_000;
    let batch = vec![
        angry,
        new_mention("m2", "fan", "J'adore Verdure, merci pour ce shampoing génial 😍", 800),
        new_mention("m3", "curious", "@verdure_fr where is my order? It was due on Monday", 20_000),
        new_mention("m4", "reader", "The Verdure store opens at nine on Sundays", 300),
    ];
    app.collect(&source, batch.clone()).await;

    let query = "query($b: ID!, $f: MentionFilterInput) { mentions(brandId: $b, filter: $f) { edges { node { externalId lang sentiment isSolicitation solicitationPriority values { id name } } } } }";
    let data = app.ok(t, query, json!({ "b": brand })).await;
    let by_id = |id: &str| -> Value {
        data["mentions"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["externalId"] == id).unwrap()["node"]
            .clone()
    };
    let m1 = by_id("m1");
    assert_eq!(m1["lang"], "fr");
    assert!(m1["sentiment"].as_f64().unwrap() < -0.3, "{m1}");
    assert_eq!(m1["values"], json!([{ "id": value, "name": "Zéro plastique" }]));
    assert_eq!((m1["isSolicitation"].clone(), m1["solicitationPriority"].clone()), (json!(true), json!("URGENT")));
    let m2 = by_id("m2");
    assert!(m2["sentiment"].as_f64().unwrap() > 0.3);
    assert_eq!((m2["isSolicitation"].clone(), m2["values"].clone()), (json!(false), json!([])));
    let m3 = by_id("m3");
    assert_eq!(
        (m3["lang"].clone(), m3["isSolicitation"].clone(), m3["solicitationPriority"].clone()),
        (json!("en"), json!(true), json!("NORMAL"))
    );
    let m4 = by_id("m4");
    assert!(m4["sentiment"].as_f64().unwrap().abs() < vigie_domain::mentions::NEUTRAL_BAND, "{m4}");
    assert_eq!(m4["isSolicitation"], false);

    // Filters: accent- and case-blind search, sentiment, solicitations, values.
    let ids = |filter: Value| {
        let app = &app;
        let brand = brand.clone();
        async move {
            let data = app.ok(t, query, json!({ "b": brand, "f": filter })).await;
            let mut ids: Vec<String> = data["mentions"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["externalId"].as_str().unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(ids(json!({ "search": "plastique COLIS" })).await, ["m1"]);
    assert_eq!(ids(json!({ "search": "genial" })).await, ["m2"]);
    assert_eq!(ids(json!({ "search": "ecologie" })).await, Vec::<String>::new());
    assert_eq!(ids(json!({ "sentiment": "NEGATIVE" })).await, ["m1"]);
    assert_eq!(ids(json!({ "sentiment": "NEUTRAL" })).await, ["m3", "m4"]);
    assert_eq!(ids(json!({ "solicitation": true })).await, ["m1", "m3"]);
    assert_eq!(ids(json!({ "valueId": value })).await, ["m1"]);

    // Influencers: ranked, explained, filtered, paginated.
    let ranking = "query($b: ID!, $tier: Tier, $stance: Stance, $min: Float, $after: String, $first: Int) { influencers(brandId: $b, tier: $tier, stance: $stance, minScore: $min, after: $after, first: $first) { edges { node { id score tier stance mentionCount discoveredAt author { handle } scoreBreakdown { followers reach engagement relevance activity authenticityPenalty meanSentiment } } } pageInfo { hasNextPage endCursor } } }";
    let data = app.ok(t, ranking, json!({ "b": brand })).await;
    let nodes: Vec<&Value> = data["influencers"]["edges"].as_array().unwrap().iter().map(|e| &e["node"]).collect();
    assert_eq!(nodes.len(), 4);
    assert_eq!(nodes[0]["author"]["handle"], "star");
    assert_eq!((nodes[0]["tier"].clone(), nodes[0]["stance"].clone()), (json!("MEGA"), json!("DETRACTOR")));
    let scores: Vec<f64> = nodes.iter().map(|n| n["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let b = &nodes[0]["scoreBreakdown"];
    let recomputed = 0.35 * b["reach"].as_f64().unwrap()
        + 0.25 * b["engagement"].as_f64().unwrap()
        + 0.2 * b["relevance"].as_f64().unwrap()
        + 0.2 * b["activity"].as_f64().unwrap()
        - b["authenticityPenalty"].as_f64().unwrap();
    assert!((recomputed - scores[0]).abs() < 0.2, "the breakdown explains the score: {b}");
    assert_eq!(b["followers"], 2_000_000);
    let fan = nodes.iter().find(|n| n["author"]["handle"] == "fan").unwrap();
    assert_eq!((fan["tier"].clone(), fan["stance"].clone()), (json!("NANO"), json!("ADVOCATE")));

    let only = |vars: Value| {
        let app = &app;
        let mut vars = vars;
        vars["b"] = json!(brand);
        async move {
            let data = app.ok(t, ranking, vars).await;
            data["influencers"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["author"]["handle"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(only(json!({ "tier": "MICRO" })).await, ["curious"]);
    assert_eq!(only(json!({ "stance": "ADVOCATE" })).await, ["fan"]);
    assert_eq!(only(json!({ "min": scores[0] })).await, ["star"]);
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app.ok(t, ranking, json!({ "b": brand, "first": 1, "after": after })).await;
        seen.extend(
            data["influencers"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["author"]["handle"].clone()),
        );
        if data["influencers"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = data["influencers"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, nodes.iter().map(|n| n["author"]["handle"].clone()).collect::<Vec<_>>());

    // Events: one per solicitation and one per author over the threshold (40).
    let discovered = events(&app, "influencer.discovered").await;
    let over: Vec<&&Value> = nodes.iter().filter(|n| n["score"].as_f64().unwrap() >= 40.0).collect();
    assert!(!over.is_empty());
    assert_eq!(discovered.len(), over.len(), "{scores:?}");
    assert!(over.iter().all(|n| !n["discoveredAt"].is_null()));
    // Each announcement describes the influencer as it was written.
    for event in &discovered {
        let p = &event.payload;
        let announced = p["influencerId"].as_str().unwrap();
        let node = over.iter().find(|n| vigie_tests::db_id(n["id"].as_str().unwrap()).to_string() == announced);
        let node = node.expect("an announced influencer");
        assert_eq!(p["score"], node["score"]);
        assert_eq!(p["tier"].as_str().unwrap().to_uppercase(), node["tier"].as_str().unwrap());
        assert_eq!(p["stance"].as_str().unwrap().to_uppercase(), node["stance"].as_str().unwrap());
        assert_eq!(p["components"]["followers"], node["scoreBreakdown"]["followers"]);
        assert_eq!(p["threshold"], 40);
        assert_eq!(p["handle"], node["author"]["handle"]);
    }
    let solicitations = events(&app, "mention.solicitation").await;
    assert_eq!(solicitations.len(), 2);
    assert!(solicitations.iter().any(|e| e.payload["priority"] == "urgent"));

    // Collecting the same mentions again rescores them but announces nothing twice.
    app.collect(&source, batch).await;
    assert_eq!(events(&app, "influencer.discovered").await.len(), discovered.len());
    assert_eq!(events(&app, "mention.solicitation").await.len(), 2);
    let again = app.ok(t, ranking, json!({ "b": brand })).await;
    assert_eq!(again["influencers"]["edges"].as_array().unwrap().len(), 4);
    assert_eq!(again["influencers"]["edges"][0]["node"]["mentionCount"], 1);

    // The nightly pass recomputes every influencer of the brand.
    let brand_id = vigie_tests::db_id(&brand);
    assert_eq!(
        vigie_domain::influencers::rescore_brand(System::for_tests(), &app.services, brand_id).await.unwrap(),
        4
    );
}
on_both_databases!(mentions_are_scored_and_authors_ranked);

/// A mention that turns into a solicitation when it is collected again (its text was
/// edited) gets one ticket, on the mention as stored, with the SLA clock started when
/// Vigie first received it; collecting it once more opens nothing.
async fn a_mention_edited_into_a_solicitation_gets_one_ticket(backend: Backend) {
    use vigie_domain::entities::{mention, ticket};
    use vigie_domain::mentions::store::{self, Provenance};

    let app = TestApp::new(backend).await;
    let (brand, source) = brand_and_source(&app).await;
    let db = &app.services.db;
    let first = vec![new_mention("e1", "curious", "The Verdure store opens at nine on Sundays", 20_000)];
    store::store(System::for_tests(), &app.services, &brand, &source, first, Provenance::Collected).await.unwrap();
    assert!(ticket::Entity::find().all(db).await.unwrap().is_empty(), "not a solicitation yet");

    let mut edited = new_mention("e1", "curious", "Where is my order? It was due on Monday", 20_000);
    edited.direct = true;
    let edited = vec![edited];
    for _ in 0..2 {
        store::store(System::for_tests(), &app.services, &brand, &source, edited.clone(), Provenance::Collected)
            .await
            .unwrap();
    }
    let stored = mention::Entity::find().all(db).await.unwrap();
    assert_eq!(stored.len(), 1);
    let tickets = ticket::Entity::find().all(db).await.unwrap();
    assert_eq!(tickets.len(), 1, "{stored:?}");
    assert_eq!(tickets[0].mention_id, stored[0].id);
    assert_eq!(tickets[0].created_at, stored[0].collected_at, "the clock starts at the first receipt");
    let announced = events(&app, "mention.solicitation").await;
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0].payload["mentionId"], json!(stored[0].id));
    assert_eq!(announced[0].payload["text"], json!(stored[0].text));
}
on_both_databases!(a_mention_edited_into_a_solicitation_gets_one_ticket);

/// Mentions left unscored (stored by a version that scored them later, in a job) are
/// found by the minute sweep, once they are a minute old, and scored.
async fn the_sweep_scores_mentions_left_behind(backend: Backend) {
    use sea_orm::sea_query::Expr;
    use vigie_domain::entities::mention;
    use vigie_domain::mentions::pipeline::{score_brand, sweep_unscored};
    use vigie_domain::mentions::store::{self, Provenance};

    let app = TestApp::new(backend).await;
    let (brand, source) = brand_and_source(&app).await;
    let db = &app.services.db;
    let left = vec![new_mention("l1", "a", "Verdure, super", 10), new_mention("l2", "b", "Verdure, bof", 10)];
    store::store(System::for_tests(), &app.services, &brand, &source, left, Provenance::Collected).await.unwrap();
    assert_eq!(score_brand(System::for_tests(), &app.services, brand.id).await.unwrap(), 0, "storing scored them");
    mention::Entity::update_many()
        .col_expr(mention::Column::ScoredAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(mention::Column::BrandId.eq(brand.id))
        .exec(db)
        .await
        .unwrap();

    assert_eq!(
        sweep_unscored(System::for_tests(), &app.services).await.unwrap(),
        0,
        "fresh mentions are not yet left behind"
    );
    mention::Entity::update_many()
        .col_expr(mention::Column::CollectedAt, Expr::value(vigie_domain::now() - chrono::Duration::minutes(2)))
        .filter(mention::Column::BrandId.eq(brand.id))
        .exec(db)
        .await
        .unwrap();
    let before = queue_depth(&app, "mentions.score").await;
    assert_eq!(sweep_unscored(System::for_tests(), &app.services).await.unwrap(), 1);
    assert_eq!(queue_depth(&app, "mentions.score").await, before + 1, "one scoring job for the brand");
    assert_eq!(score_brand(System::for_tests(), &app.services, brand.id).await.unwrap(), 2);
    assert_eq!(sweep_unscored(System::for_tests(), &app.services).await.unwrap(), 0, "nothing left behind");
}
on_both_databases!(the_sweep_scores_mentions_left_behind);

/// Storing (and scoring) marks the authors stale; the refresh recomputes each author once however
/// many batches marked it, leaves no mark behind, and two refreshes of one brand at
/// once never write an author twice. Marks whose job was never enqueued are found by
/// the minute sweep.
async fn stale_influencers_are_refreshed_once(backend: Backend) {
    use sea_orm::sea_query::Expr;
    use vigie_domain::entities::{brand_influencer, influencer_stale};
    use vigie_domain::influencers::refresh_stale;
    use vigie_domain::mentions::pipeline::sweep_stale;
    use vigie_domain::mentions::store::{self, Provenance};

    let app = TestApp::new(backend).await;
    let (brand, source) = brand_and_source(&app).await;
    let db = &app.services.db;
    let store_batch = |batch: Vec<vigie_domain::mentions::store::NewMention>| {
        let (services, brand, source) = (app.services.clone(), brand.clone(), source.clone());
        async move {
            store::store(System::for_tests(), &services, &brand, &source, batch, Provenance::Collected).await.unwrap()
        }
    };
    assert_eq!(
        store_batch(vec![new_mention("1", "a", "Verdure, super", 10), new_mention("2", "b", "Verdure", 10)]).await,
        2
    );
    assert_eq!(
        store_batch(vec![new_mention("3", "a", "Verdure encore", 10), new_mention("4", "c", "Verdure", 10)]).await,
        2
    );
    let marks = || influencer_stale::Entity::find().filter(influencer_stale::Column::BrandId.eq(brand.id)).all(db);
    assert_eq!(marks().await.unwrap().len(), 4, "one mark per author per stored batch");
    assert!(
        brand_influencer::Entity::find().all(db).await.unwrap().is_empty(),
        "storing leaves influencers to the refresh"
    );

    let (first, second) = tokio::join!(
        refresh_stale(System::for_tests(), &app.services, brand.id),
        refresh_stale(System::for_tests(), &app.services, brand.id)
    );
    assert_eq!(first.unwrap() + second.unwrap(), 3, "a, b and c, each written once");
    assert!(marks().await.unwrap().is_empty());
    let influencers =
        brand_influencer::Entity::find().filter(brand_influencer::Column::BrandId.eq(brand.id)).all(db).await.unwrap();
    let counts: std::collections::BTreeMap<i32, usize> = influencers.iter().fold(Default::default(), |mut m, i| {
        *m.entry(i.mention_count).or_default() += 1;
        m
    });
    assert_eq!(counts, [(1, 2), (2, 1)].into(), "a has both its mentions counted");

    store_batch(vec![new_mention("5", "d", "Verdure", 10)]).await;
    assert_eq!(
        sweep_stale(System::for_tests(), &app.services).await.unwrap(),
        0,
        "a refresh is on its way for a fresh mark"
    );
    influencer_stale::Entity::update_many()
        .col_expr(influencer_stale::Column::CreatedAt, Expr::value(vigie_domain::now() - chrono::Duration::minutes(2)))
        .exec(db)
        .await
        .unwrap();
    let before = queue_depth(&app, "influencers.refresh").await;
    assert_eq!(sweep_stale(System::for_tests(), &app.services).await.unwrap(), 1);
    assert_eq!(queue_depth(&app, "influencers.refresh").await, before + 1, "one refresh job for the brand");
    assert_eq!(refresh_stale(System::for_tests(), &app.services, brand.id).await.unwrap(), 1);
    assert_eq!(sweep_stale(System::for_tests(), &app.services).await.unwrap(), 0, "nothing left behind");
}
on_both_databases!(stale_influencers_are_refreshed_once);

/// A backlog larger than one refresh transaction is swept in author order, batch after
/// batch: every author is written exactly once, none is lost at a batch's bounds, and no
/// mark is left.
async fn a_stale_backlog_is_swept_in_batches(backend: Backend) {
    use sea_orm::PaginatorTrait;
    use vigie_domain::entities::{brand_influencer, influencer_stale};
    use vigie_domain::influencers::refresh_stale;
    use vigie_domain::mentions::store::{self, Provenance};

    let app = TestApp::new(backend).await;
    let (brand, source) = brand_and_source(&app).await;
    let db = &app.services.db;
    // Two and a half batches of authors, each marked by two stores.
    let authors = 2_500;
    for round in 0..2 {
        let batch =
            (0..authors).map(|i| new_mention(&format!("{round}-{i}"), &format!("a{i}"), "Verdure", 10)).collect();
        store::store(System::for_tests(), &app.services, &brand, &source, batch, Provenance::Collected).await.unwrap();
    }
    assert_eq!(
        refresh_stale(System::for_tests(), &app.services, brand.id).await.unwrap(),
        authors,
        "each author written once"
    );
    let marks = influencer_stale::Entity::find().filter(influencer_stale::Column::BrandId.eq(brand.id)).count(db);
    assert_eq!(marks.await.unwrap(), 0, "no mark left");
    let influencers = brand_influencer::Entity::find().filter(brand_influencer::Column::BrandId.eq(brand.id));
    let influencers = influencers.all(db).await.unwrap();
    assert_eq!(influencers.len(), authors);
    assert!(influencers.iter().all(|i| i.mention_count == 2), "both mentions of every author counted");
}
on_both_databases!(a_stale_backlog_is_swept_in_batches);

/// The daily sentiment series counts each day's mentions by class, keeps empty days,
/// and refuses a reversed or overlong period.
async fn the_sentiment_series_counts_days(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let source = app.create_source(t, &brand).await;
    let at = |day: u32, hour: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, day, hour, 0, 0).unwrap();
    let mut batch = Vec::new();
    for (id, text, when) in [
        ("d1", "J'adore Verdure, génial, merci !", at(20, 9)),
        ("d2", "Verdure, c'est nul, je suis très déçu", at(20, 23)),
        ("d3", "Verdure ouvre à neuf heures", at(22, 8)),
    ] {
        let mut mention = new_mention(id, "someone", text, 100);
        mention.published_at = when;
        batch.push(mention);
    }
    app.collect(&source, batch).await;
    let query = "query($b: ID!, $from: DateTime!, $to: DateTime!) { sentimentSeries(brandId: $b, from: $from, to: $to) { day mentions negative positive meanSentiment } }";
    let data =
        app.ok(t, query, json!({ "b": brand, "from": "2026-11-20T00:00:00Z", "to": "2026-11-23T00:00:00Z" })).await;
    let days = data["sentimentSeries"].as_array().unwrap();
    let summary: Vec<(String, i64, i64, i64)> = days
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_i64().unwrap();
            (d["day"].as_str().unwrap().to_owned(), n("mentions"), n("negative"), n("positive"))
        })
        .collect();
    assert_eq!(
        summary,
        vec![("2026-11-20".into(), 2, 1, 1), ("2026-11-21".into(), 0, 0, 0), ("2026-11-22".into(), 1, 0, 0),]
    );
    assert!(days[1]["meanSentiment"].is_null(), "an empty day has no mean");
    let reversed =
        app.gql(t, query, json!({ "b": brand, "from": "2026-11-23T00:00:00Z", "to": "2026-11-20T00:00:00Z" })).await;
    vigie_tests::assert_error(&reversed, "BAD_USER_INPUT");
    let long =
        app.gql(t, query, json!({ "b": brand, "from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z" })).await;
    vigie_tests::assert_error(&long, "BAD_USER_INPUT");
}
on_both_databases!(the_sentiment_series_counts_days);

/// An influencer's reach counts the follower count its newest mention claims (by
/// publication, not by collection order), skipping mentions that claim none; not the
/// profile's count, which the last collection wrote.
async fn reach_uses_the_newest_claimed_follower_count(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let t = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let source = app.create_source(t, &brand).await;
    let at = |hours: i64, id: &str, followers: Option<i64>| {
        let mut m = new_mention(id, "camille", "Verdure, super", 0);
        m.published_at = vigie_domain::now() - chrono::Duration::hours(hours);
        m.author.followers = followers;
        m
    };
    app.collect(&source, vec![at(3, "newest-claim", Some(50_000))]).await;
    app.collect(&source, vec![at(1, "newest-none", None)]).await;
    app.collect(&source, vec![at(9, "older-claim", Some(1_000))]).await;
    let data = app
        .ok(t, "query($b: ID!) { influencers(brandId: $b) { edges { node { mentionCount author { followers } scoreBreakdown { followers } } } } }", json!({ "b": brand }))
        .await;
    let node = &data["influencers"]["edges"][0]["node"];
    assert_eq!(node["mentionCount"], 3, "{data:#}");
    assert_eq!(node["author"]["followers"], 1_000, "the profile holds the last collected count: {data:#}");
    assert_eq!(node["scoreBreakdown"]["followers"], 50_000, "{data:#}");
}
on_both_databases!(reach_uses_the_newest_claimed_follower_count);
