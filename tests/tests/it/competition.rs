//! Competitors and share of voice: attribution as mentions are stored, figures checked
//! against hand-computed ones, competitors' mentions kept out of the brand's tickets,
//! alerts and influencers, competitive influencers, and the report section.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use vigie_domain::System;
use vigie_domain::crises::detect::detect;
use vigie_tests::{Backend, TestApp, assert_error, db_id, new_mention, on_both_databases};

const SHARE: &str = "query($b: ID!, $from: DateTime!, $to: DateTime!, $by: Granularity!, $network: Network) {
  shareOfVoice(brandId: $b, from: $from, to: $to, by: $by, network: $network) {
    periods { start end voices { name isBrand competitorId mentions } }
    total { name isBrand competitorId mentions positive negative reach share reachShare netSentiment positiveRate positiveShare }
  } }";

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

/// A mention by `handle` published at `when`.
fn post(id: &str, handle: &str, text: &str, followers: i64, when: &str) -> vigie_domain::mentions::store::NewMention {
    let mut m = new_mention(id, handle, text, followers);
    m.published_at = at(when);
    m
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() < 1e-9)
}

async fn share_of_voice_counts_each_named_brand(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(t, "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", trackedKeywords: [\"Verdure\"], handles: [{ network: MASTODON, handle: \"verdure\" }] }) { id } }", json!({}))
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = "mutation($i: CreateCompetitorInput!) { createCompetitor(input: $i) { id name keywords handles { network handle } } }";
    let herbalia = app
        .ok(t, create, json!({ "i": { "brandId": brand, "name": "Herbalia", "handles": [{ "network": "MASTODON", "handle": "@herbalia" }] } }))
        .await["createCompetitor"]
        .clone();
    assert_eq!(herbalia["handles"], json!([{ "network": "MASTODON", "handle": "herbalia" }]));
    let herbalia = herbalia["id"].as_str().unwrap().to_owned();
    let lumen = app
        .ok(
            t,
            create,
            json!({ "i": { "brandId": brand, "name": "Lumen", "keywords": ["Lumen Shampoo", " lumen shampoo "] } }),
        )
        .await["createCompetitor"]
        .clone();
    assert_eq!(lumen["keywords"], json!(["Lumen Shampoo"]), "keywords trimmed and deduplicated");
    let lumen = lumen["id"].as_str().unwrap().to_owned();

    // Bad input, duplicates and client viewers are refused.
    for name in ["Herbalia", "HERBALIA"] {
        let error = app.gql(t, create, json!({ "i": { "brandId": brand, "name": name } })).await;
        assert_error(&error, "CONFLICT");
    }
    for keywords in [json!(["ab"]), json!(["verdure"]), json!(["x".repeat(101)])] {
        let error =
            app.gql(t, create, json!({ "i": { "brandId": brand, "name": "Autre", "keywords": keywords } })).await;
        assert_error(&error, "BAD_USER_INPUT");
    }
    let mine = json!([{ "network": "MASTODON", "handle": "Verdure" }]);
    let error = app.gql(t, create, json!({ "i": { "brandId": brand, "name": "Autre", "handles": mine } })).await;
    assert_error(&error, "BAD_USER_INPUT");
    let error = app.gql(t, create, json!({ "i": { "brandId": brand, "name": "VERDURE" } })).await;
    assert_error(&error, "BAD_USER_INPUT");
    let error = app.gql(t, create, json!({ "i": { "brandId": brand, "name": " " } })).await;
    assert_error(&error, "BAD_USER_INPUT");
    let viewer = app.invite_and_accept(&owner.access_token, "client@brand.example", "CLIENT_VIEWER", &[&brand]).await;
    let error =
        app.gql(Some(&viewer.access_token), create, json!({ "i": { "brandId": brand, "name": "Autre" } })).await;
    assert_error(&error, "FORBIDDEN");
    let listed = app.ok(t, "query($b: ID!) { brand(id: $b) { competitors { name } } }", json!({ "b": brand })).await;
    assert_eq!(listed["brand"]["competitors"], json!([{ "name": "Herbalia" }, { "name": "Lumen" }]));

    let source = app.create_source(t, &brand).await;
    let mut lumen_post = post("l1", "lumenfan", "I love Lumen Shampoo, great", 200, "2026-11-10T11:00:00Z");
    lumen_post.network = "bluesky".into();
    app.collect(
        &source,
        vec![
            // Week of Monday 2 November.
            post("b1", "fan", "I love Verdure, great shampoo", 1_000, "2026-11-02T10:00:00Z"),
            post("b2", "late", "Verdure delivery was slow and disappointing", 0, "2026-11-02T11:00:00Z"),
            post("h1", "herbafan", "I love Herbalia, great shampoo", 5_000, "2026-11-03T10:00:00Z"),
            post("h2", "herbalate", "Herbalia delivery was slow and disappointing", 10, "2026-11-03T11:00:00Z"),
            post("h3", "herbaslow", "@herbalia delivery was slow and disappointing", 10, "2026-11-04T11:00:00Z"),
            // Week of Monday 9 November.
            post("x1", "both", "I love Verdure and Herbalia, great shampoo", 100, "2026-11-10T10:00:00Z"),
            post("n1", "someone", "Opening hours are nine to five", 0, "2026-11-10T12:00:00Z"),
            lumen_post,
            // The competitor's own account, then outside the period.
            post("own", "herbalia", "Herbalia launches a shampoo, we love it", 90_000, "2026-11-05T10:00:00Z"),
            post("late1", "fan", "I love Verdure, great shampoo", 1_000, "2026-11-16T00:00:00Z"),
        ],
    )
    .await;

    let vars = |by: &str| json!({ "b": brand, "from": "2026-11-02T00:00:00Z", "to": "2026-11-16T00:00:00Z", "by": by, "network": null });
    let weekly = app.ok(t, SHARE, vars("WEEK")).await["shareOfVoice"].clone();
    let total = &weekly["total"];
    // Brand: b1 (+, 1000), b2 (−, reach 1), x1 (+, 100); n1 names nobody and counts for no one.
    // Herbalia: h1 (+, 5000), h2 (−, 10), h3 (−, 10), own (+, 90000), x1 (+, 100).
    // Lumen: l1 (+, 200).
    let expected =
        [("Verdure", true, 3, 2, 1, 1_101), ("Herbalia", false, 5, 3, 2, 95_120), ("Lumen", false, 1, 1, 0, 200)];
    let (all, reach, positives) = (9.0, 96_421.0, 6.0);
    for (voice, (name, is_brand, mentions, positive, negative, r)) in total.as_array().unwrap().iter().zip(expected) {
        assert_eq!(voice["name"], name, "{weekly:#}");
        assert_eq!(voice["isBrand"], is_brand);
        assert_eq!(
            (voice["mentions"].as_i64(), voice["positive"].as_i64()),
            (Some(mentions), Some(positive)),
            "{voice:#}"
        );
        assert_eq!((voice["negative"].as_i64(), voice["reach"].as_i64()), (Some(negative), Some(r)), "{voice:#}");
        assert!(close(&voice["share"], mentions as f64 / all), "{voice:#}");
        assert!(close(&voice["reachShare"], r as f64 / reach), "{voice:#}");
        assert!(close(&voice["netSentiment"], (positive - negative) as f64 / mentions as f64), "{voice:#}");
        assert!(close(&voice["positiveRate"], positive as f64 / mentions as f64), "{voice:#}");
        assert!(close(&voice["positiveShare"], positive as f64 / positives), "{voice:#}");
    }
    assert_eq!(total[1]["competitorId"], herbalia);
    assert_eq!(total[0]["competitorId"], Value::Null);
    let periods = weekly["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2, "{weekly:#}");
    assert_eq!(periods[0]["start"], "2026-11-02T00:00:00+00:00");
    assert_eq!(periods[1]["end"], "2026-11-16T00:00:00+00:00");
    let counts =
        |p: &Value| p["voices"].as_array().unwrap().iter().map(|v| v["mentions"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!((counts(&periods[0]), counts(&periods[1])), (vec![2, 4, 0], vec![1, 1, 1]));
    // Days and months cut the same mentions differently; the range clips the month.
    let daily = app.ok(t, SHARE, vars("DAY")).await["shareOfVoice"]["periods"].clone();
    assert_eq!(daily.as_array().unwrap().len(), 14);
    assert_eq!(counts(&daily[8]), vec![1, 1, 1], "10 November");
    let monthly = app.ok(t, SHARE, vars("MONTH")).await["shareOfVoice"]["periods"].clone();
    assert_eq!(
        (monthly[0]["start"].as_str(), monthly[0]["end"].as_str()),
        (Some("2026-11-02T00:00:00+00:00"), Some("2026-11-16T00:00:00+00:00"))
    );
    assert_eq!(counts(&monthly[0]), vec![3, 5, 1]);
    let mut on_bluesky = vars("WEEK");
    on_bluesky["network"] = json!("BLUESKY");
    let on_bluesky = app.ok(t, SHARE, on_bluesky).await;
    assert_eq!(counts(&json!({ "voices": on_bluesky["shareOfVoice"]["total"] })), vec![0, 0, 1]);
    let mut backwards = vars("WEEK");
    backwards["to"] = json!("2026-11-01T00:00:00Z");
    assert_error(&app.gql(t, SHARE, backwards).await, "BAD_USER_INPUT");

    // Mentions list the brand's own by default, the competitors' on demand.
    let list = |filter: Value| {
        let app = &app;
        let brand = brand.clone();
        async move {
            let data = app
                .ok(t, "query($b: ID!, $f: MentionFilterInput) { mentions(brandId: $b, filter: $f, first: 50) { edges { node { externalId aboutBrand } } } }", json!({ "b": brand, "f": filter }))
                .await;
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
    assert_eq!(list(json!(null)).await, ["b1", "b2", "late1", "n1", "x1"]);
    assert_eq!(list(json!({ "subject": "COMPETITORS" })).await, ["h1", "h2", "h3", "l1", "own"]);
    assert_eq!(list(json!({ "competitorId": herbalia })).await, ["h1", "h2", "h3", "own", "x1"]);
    assert_eq!(list(json!({ "subject": "ANY" })).await.len(), 10);
    let foreign = app
        .gql(
            t,
            "query($b: ID!, $c: ID!) { mentions(brandId: $b, filter: { competitorId: $c }) { edges { cursor } } }",
            json!({ "b": brand, "c": brand }),
        )
        .await;
    assert_error(&foreign, "NOT_FOUND");

    // Stored again with a new text, a mention names whom it names now.
    app.collect(
        &source,
        vec![post("h3", "herbaslow", "Lumen Shampoo delivery was slow and disappointing", 10, "2026-11-04T11:00:00Z")],
    )
    .await;
    assert_eq!(list(json!({ "competitorId": lumen })).await, ["h3", "l1"]);
    assert_eq!(list(json!({ "competitorId": herbalia })).await, ["h1", "h2", "own", "x1"]);

    // Competitive influencers: those who talk about competitors and never about the brand,
    // without the competitors' own accounts.
    let prospects = "query($b: ID!, $c: ID) { competitiveInfluencers(brandId: $b, competitorId: $c, days: 400) {
        author { handle } score tier stance mentions competitors { competitorId name mentions } } }";
    let found = app.ok(t, prospects, json!({ "b": brand, "c": null })).await["competitiveInfluencers"].clone();
    let handles: Vec<&str> =
        found.as_array().unwrap().iter().map(|p| p["author"]["handle"].as_str().unwrap()).collect();
    let scores: Vec<f64> = found.as_array().unwrap().iter().map(|p| p["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "most influential first: {found:#}");
    let mut sorted = handles.clone();
    sorted.sort();
    assert_eq!(sorted, ["herbafan", "herbalate", "herbaslow", "lumenfan"], "{found:#}");
    let fan = found.as_array().unwrap().iter().find(|p| p["author"]["handle"] == "herbafan").unwrap();
    assert_eq!(fan["stance"], "ADVOCATE");
    assert_eq!(fan["competitors"], json!([{ "competitorId": herbalia, "name": "Herbalia", "mentions": 1 }]));
    let only_lumen = app.ok(t, prospects, json!({ "b": brand, "c": lumen })).await["competitiveInfluencers"].clone();
    let mut handles: Vec<&str> =
        only_lumen.as_array().unwrap().iter().map(|p| p["author"]["handle"].as_str().unwrap()).collect();
    handles.sort();
    assert_eq!(handles, ["herbaslow", "lumenfan"]);
    let error = app.gql(t, prospects, json!({ "b": brand, "c": brand })).await;
    assert_error(&error, "NOT_FOUND");
    // They are not the brand's influencers.
    let influencers = app
        .ok(
            t,
            "query($b: ID!) { influencers(brandId: $b, first: 50) { edges { node { author { handle } } } } }",
            json!({ "b": brand }),
        )
        .await;
    let handles: Vec<&str> = influencers["influencers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["author"]["handle"].as_str().unwrap())
        .collect();
    assert!(handles.contains(&"fan") && handles.contains(&"both"), "{handles:?}");
    for prospect in ["herbafan", "herbalate", "herbaslow", "lumenfan", "herbalia"] {
        assert!(!handles.contains(&prospect), "{handles:?}");
    }

    // Deleting a competitor keeps its mentions; those about it alone stay out of the
    // brand's own.
    app.ok(t, "mutation($id: ID!) { deleteCompetitor(id: $id) { deletedId } }", json!({ "id": lumen })).await;
    assert_eq!(list(json!(null)).await, ["b1", "b2", "late1", "n1", "x1"]);
    let after = app.ok(t, SHARE, vars("WEEK")).await["shareOfVoice"]["total"].clone();
    assert_eq!(after.as_array().unwrap().len(), 2);
}

on_both_databases!(share_of_voice_counts_each_named_brand);

async fn competitors_mentions_open_no_ticket_alert_or_influencer(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app
        .ok(t, "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\", trackedKeywords: [\"Verdure\"], handles: [{ network: MASTODON, handle: \"verdure\" }], crisisMinCount: 10 }) { id } }", json!({}))
        .await["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(t, "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Zéro plastique\", keywords: [\"plastic\"] }) { id } }", json!({ "b": brand })).await;
    app.ok(t, "mutation($b: ID!) { createCompetitor(input: { brandId: $b, name: \"Herbalia\", handles: [{ network: MASTODON, handle: \"herbalia\" }] }) { id } }", json!({ "b": brand })).await;
    let source = app.create_source(t, &brand).await;
    let now = vigie_domain::now();
    // Fifteen angry customers of the competitor, answering its account with questions,
    // and accusations of the brand's own value aimed at the competitor.
    let mut flood = Vec::new();
    for i in 0..15 {
        let mut m = new_mention(
            &format!("angry-{i}"),
            &format!("angry{i}"),
            "@herbalia where is my refund? terrible service and awful support",
            2_000,
        );
        m.published_at = now - Duration::minutes(1);
        m.in_reply_to = Some(format!("https://mastodon.example/@herbalia/{i}"));
        m.in_reply_to_author = Some("herbalia".into());
        flood.push(m);
        let mut m = new_mention(
            &format!("plastic-{i}"),
            &format!("eco{i}"),
            "Herbalia lies about plastic, full of plastic, shameful greenwashing",
            600_000,
        );
        m.published_at = now - Duration::minutes(2);
        flood.push(m);
    }
    app.collect(&source, flood).await;
    let opened = detect(System::for_tests(), &app.services, db_id(&brand)).await.unwrap();
    assert!(opened.is_empty(), "the competitor's crisis is not the brand's");
    let tickets =
        app.ok(t, "query($b: ID!) { tickets(brandId: $b) { edges { node { id } } } }", json!({ "b": brand })).await;
    assert_eq!(tickets["tickets"]["edges"], json!([]));
    let influencers =
        app.ok(t, "query($b: ID!) { influencers(brandId: $b) { edges { node { id } } } }", json!({ "b": brand })).await;
    assert_eq!(influencers["influencers"]["edges"], json!([]));
    let series = app
        .ok(t, "query($b: ID!, $from: DateTime!, $to: DateTime!) { sentimentSeries(brandId: $b, from: $from, to: $to) { mentions } }", json!({ "b": brand, "from": (now - Duration::days(1)).to_rfc3339(), "to": (now + Duration::days(1)).to_rfc3339() }))
        .await;
    let total: i64 =
        series["sentimentSeries"].as_array().unwrap().iter().map(|d| d["mentions"].as_i64().unwrap()).sum();
    assert_eq!(total, 0, "the brand's charts count its own mentions");

    // The same anger aimed at the brand is the brand's: tickets and a spike.
    let mut burst = Vec::new();
    for i in 0..15 {
        let mut m = new_mention(
            &format!("mine-{i}"),
            &format!("mine{i}"),
            "@verdure where is my refund? terrible service and awful support, worse than Herbalia",
            2_000,
        );
        m.published_at = vigie_domain::now() - Duration::minutes(1);
        m.in_reply_to = Some(format!("https://mastodon.example/@verdure/{i}"));
        m.in_reply_to_author = Some("verdure".into());
        burst.push(m);
    }
    app.collect(&source, burst).await;
    assert_eq!(detect(System::for_tests(), &app.services, db_id(&brand)).await.unwrap().len(), 1);
    let tickets = app
        .ok(t, "query($b: ID!) { tickets(brandId: $b, first: 50) { edges { node { id } } } }", json!({ "b": brand }))
        .await;
    assert_eq!(tickets["tickets"]["edges"].as_array().unwrap().len(), 15);
}

on_both_databases!(competitors_mentions_open_no_ticket_alert_or_influencer);

async fn reports_and_digests_carry_the_competition(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = Some(owner.access_token.as_str());
    let brand = app.create_brand(&owner.access_token, "Verdure").await;
    let source = app.create_source(t, &brand).await;
    let share = "mutation($i: CreateReportShareInput!) { createReportShare(input: $i) { token } }";
    let now = vigie_domain::now();
    let input = json!({ "i": { "brandId": brand, "sections": ["competition", "mentions"],
        "from": (now - Duration::days(7)).to_rfc3339(), "to": (now + Duration::hours(1)).to_rfc3339(),
        "expiresAt": (now + Duration::days(7)).to_rfc3339() } });
    let read = "query($t: String!) { sharedReport(token: $t) { sections competition {
        shareOfVoice { total { name mentions share } periods { start } } prospects { handle tier competitors } } } }";
    // Without competitors, the section is empty.
    let token = app.ok(t, share, input.clone()).await["createReportShare"]["token"].as_str().unwrap().to_owned();
    let report = app.ok(None, read, json!({ "t": token })).await;
    assert_eq!(report["sharedReport"]["competition"], Value::Null);

    app.ok(
        t,
        "mutation($b: ID!) { createCompetitor(input: { brandId: $b, name: \"Herbalia\" }) { id } }",
        json!({ "b": brand }),
    )
    .await;
    app.collect(
        &source,
        vec![
            new_mention("b1", "fan", "I love Verdure, great shampoo", 1_000),
            new_mention("h1", "herbafan", "I love Herbalia, great shampoo", 5_000),
            new_mention("h2", "herbalate", "Herbalia is okay", 50),
        ],
    )
    .await;
    let report = app.ok(None, read, json!({ "t": token })).await["sharedReport"].clone();
    let competition = &report["competition"];
    assert_eq!(
        competition["shareOfVoice"]["total"],
        json!([{ "name": "Verdure", "mentions": 1, "share": 1.0 / 3.0 }, { "name": "Herbalia", "mentions": 2, "share": 2.0 / 3.0 }]),
        "{report:#}"
    );
    let mut prospects: Vec<String> = competition["prospects"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|p| assert_eq!((&p["tier"], &p["competitors"]), (&json!("nano"), &json!(["Herbalia"]))))
        .map(|p| p["handle"].as_str().unwrap().to_owned())
        .collect();
    prospects.sort();
    assert_eq!(prospects, ["herbafan", "herbalate"]);

    // The page, its CSV and the digest say the same.
    let built = vigie_domain::reports::open(&app.services, &token).await.unwrap();
    let page = vigie_domain::reports::html::render(&built, "https://vigie.example/r/x").unwrap();
    assert!(
        page.contains("Share of voice") && page.contains("@herbafan") && page.contains("competition.csv"),
        "{page}"
    );
    let csv = vigie_domain::reports::csv::section(&built, "competition").unwrap();
    assert!(csv.starts_with("period,entity,mentions,"), "{csv}");
    assert!(csv.contains("\r\ntotal,Herbalia,2,"), "{csv}");
    let digest = vigie_domain::reports::digests::email(&built, "https://vigie.example/r/x").unwrap();
    assert!(digest.text.contains("Share of voice: Verdure 33"), "{}", digest.text);
}

on_both_databases!(reports_and_digests_carry_the_competition);
