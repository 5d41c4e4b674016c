//! One screen for the agency: inbox, alerts and mentions across the brands the caller
//! may see, merged in order and paginated; members see their brands, client viewers
//! theirs; and one subscription streams the changes of those brands only.

use chrono::Duration;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use std::collections::HashSet;
use vigie_domain::entities::alert;
use vigie_tests::ws::Subscription;
use vigie_tests::{Backend, TestApp, assert_error, db_id, new_mention, on_both_databases};

const MENTIONS: &str = "query($b: [ID!], $first: Int, $after: String) { agencyMentions(brandIds: $b, first: $first, after: $after) { \
    edges { cursor node { externalId publishedAt brandId } } pageInfo { hasNextPage endCursor } } }";
const INBOX: &str =
    "query($b: [ID!]) { agencyInbox(brandIds: $b, first: 50) { edges { node { dueAt mention { externalId } } } } }";
const ALERTS: &str =
    "query($b: [ID!]) { agencyAlerts(brandIds: $b, first: 50) { edges { node { kind brand { name } } } } }";

/// Every mention a caller pages through, `first` at a time.
async fn all_mentions(app: &TestApp, token: &str, brands: Value, first: i64) -> Vec<Value> {
    let (mut out, mut after) = (Vec::new(), Value::Null);
    loop {
        let vars = json!({ "b": brands, "first": first, "after": after });
        let page = app.ok(Some(token), MENTIONS, vars).await["agencyMentions"].clone();
        out.extend(page["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

async fn the_agency_sees_every_brand_it_may_in_one_list(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = owner.access_token.as_str();
    let names = ["Verdure", "Lumen", "Herbalia"];
    let mut brands = Vec::new();
    let now = vigie_domain::now();
    for (b, name) in names.iter().enumerate() {
        let brand = app.create_brand(t, name).await;
        let source = app.create_source(Some(t), &brand).await;
        // Interleaved times across brands, and a tie on the same second.
        let posts = (0..7)
            .map(|i| {
                let mut m = new_mention(&format!("{name}-{i}"), &format!("fan{b}{i}"), &format!("{name} is nice"), 100);
                m.published_at = now - Duration::minutes(3 * i + b as i64);
                m
            })
            .chain(std::iter::once({
                let mut m = new_mention(
                    &format!("{name}-ask"),
                    &format!("asker{b}"),
                    &format!("@{} where is my order?", name.to_lowercase()),
                    100,
                );
                m.direct = true;
                m.published_at = now - Duration::minutes(100);
                m
            }))
            .collect();
        app.collect(&source, posts).await;
        alert::ActiveModel {
            id: Set(vigie_domain::new_id()),
            agency_id: Set(db_id(&owner.agency_id)),
            brand_id: Set(db_id(&brand)),
            kind: Set("negative_spike".into()),
            severity: Set("low".into()),
            status: Set("open".into()),
            brand_value_id: Set(None),
            window_start: Set(now),
            window_end: Set(now),
            metrics: Set(json!({})),
            explanation: Set(json!({})),
            opened_at: Set(now),
            acknowledged_at: Set(None),
            resolved_at: Set(None),
            resolution_note: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            open_key: Set(None),
            verdict: Set(None),
            verdict_note: Set(None),
            judged_at: Set(None),
        }
        .insert(&app.services.db)
        .await
        .unwrap();
        brands.push(brand);
    }

    // The owner pages through all 24 mentions, newest first, each once.
    let seen = all_mentions(&app, t, json!(null), 5).await;
    assert_eq!(seen.len(), 24);
    let times: Vec<String> = seen.iter().map(|m| m["publishedAt"].as_str().unwrap().to_owned()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first across brands");
    let ids: HashSet<&str> = seen.iter().map(|m| m["externalId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 24, "no mention twice");
    let two = all_mentions(&app, t, json!([brands[0], brands[2]]), 4).await;
    assert_eq!(two.len(), 16);
    assert!(two.iter().all(|m| m["brandId"] != brands[1]));

    // A member sees its brands; a client viewer its brand.
    let member = app.invite_and_accept(t, "member@agency.example", "MEMBER", &[&brands[0], &brands[1]]).await;
    let viewer = app.invite_and_accept(t, "client@brand.example", "CLIENT_VIEWER", &[&brands[2]]).await;
    let m = member.access_token.as_str();
    let mine = all_mentions(&app, m, json!(null), 50).await;
    assert_eq!(mine.len(), 16);
    assert!(mine.iter().all(|x| x["brandId"] != brands[2]));
    assert_error(&app.gql(Some(m), MENTIONS, json!({ "b": [brands[2]], "first": 5 })).await, "NOT_FOUND");
    assert_error(&app.gql(Some(m), INBOX, json!({ "b": [brands[0], brands[2]] })).await, "NOT_FOUND");
    let theirs = all_mentions(&app, &viewer.access_token, json!(null), 50).await;
    assert_eq!(theirs.len(), 8);
    assert_error(&app.gql(Some(&viewer.access_token), INBOX, json!({ "b": null })).await, "FORBIDDEN");

    // The inbox and the alerts, across brands.
    let inbox = app.ok(Some(t), INBOX, json!({ "b": null })).await["agencyInbox"]["edges"].clone();
    assert_eq!(inbox.as_array().unwrap().len(), 3, "{inbox:#}");
    let due: Vec<&str> = inbox.as_array().unwrap().iter().map(|e| e["node"]["dueAt"].as_str().unwrap()).collect();
    assert!(due.windows(2).all(|w| w[0] <= w[1]), "soonest due first: {due:?}");
    let member_inbox = app.ok(Some(m), INBOX, json!({ "b": null })).await["agencyInbox"]["edges"].clone();
    assert_eq!(member_inbox.as_array().unwrap().len(), 2);
    let alerts = app.ok(Some(m), ALERTS, json!({ "b": null })).await["agencyAlerts"]["edges"].clone();
    let mut names: Vec<&str> =
        alerts.as_array().unwrap().iter().map(|e| e["node"]["brand"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Lumen", "Verdure"]);
    let too_many: Vec<String> = (0..101).map(|_| brands[0].clone()).collect();
    assert_error(&app.gql(Some(t), ALERTS, json!({ "b": too_many })).await, "BAD_USER_INPUT");
    assert_error(&app.gql(Some(t), ALERTS, json!({ "b": [] })).await, "BAD_USER_INPUT");
}

on_both_databases!(the_agency_sees_every_brand_it_may_in_one_list);

async fn one_subscription_streams_the_brands_of_its_caller(backend: Backend) {
    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "owner@agency.example").await;
    let t = owner.access_token.as_str();
    let (mine, other) = (app.create_brand(t, "Verdure").await, app.create_brand(t, "Lumen").await);
    let (mine_source, other_source) =
        (app.create_source(Some(t), &mine).await, app.create_source(Some(t), &other).await);
    let member = app.invite_and_accept(t, "member@agency.example", "MEMBER", &[&mine]).await;
    let serving = vigie_api::http::serve(app.services.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    tokio::spawn(serving.server);
    let base = format!("http://{}", serving.addr);
    let query = "subscription { agencyUpdates { __typename ... on MentionsAdded { brandId count } ... on Ticket { mention { externalId } } } }";
    let mut feed = Subscription::start(&base, &member.access_token, query, json!({})).await;
    // Until the subscription is live, notices go nowhere: probe until one arrives.
    let mut probe = 0;
    loop {
        probe += 1;
        app.collect(&mine_source, vec![new_mention(&format!("probe-{probe}"), "prober", "Verdure is nice", 10)]).await;
        if let Ok(data) = tokio::time::timeout(std::time::Duration::from_millis(500), feed.next_data()).await {
            assert_eq!(data["agencyUpdates"]["brandId"], mine);
            break;
        }
        assert!(probe < 40, "the subscription never went live");
    }
    // The other brand's mentions are not the member's; its own brand's ticket and
    // mentions are.
    app.collect(&other_source, vec![new_mention("other-1", "someone", "Lumen is nice", 10)]).await;
    let mut ask = new_mention("ask-1", "asker", "@verdure where is my order?", 10);
    ask.direct = true;
    app.collect(&mine_source, vec![ask]).await;
    let first = feed.next_data().await["agencyUpdates"].clone();
    assert_eq!(first["__typename"], "Ticket", "{first}");
    assert_eq!(first["mention"]["externalId"], "ask-1");
    let second = feed.next_data().await["agencyUpdates"].clone();
    assert_eq!(
        (second["__typename"].as_str(), second["brandId"].as_str(), second["count"].as_i64()),
        (Some("MentionsAdded"), Some(mine.as_str()), Some(1))
    );
    // Naming a brand it may not see is refused.
    let mut refused = Subscription::connect(&base, Some(&member.access_token)).await;
    refused
        .subscribe(
            "1",
            "subscription($b: [ID!]) { agencyUpdates(brandIds: $b) { __typename } }",
            json!({ "b": [other] }),
        )
        .await;
    let message = refused.message().await;
    assert_eq!(message["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND", "{message}");

    // A brand given after the socket opened, subscribed to, then taken back: the socket
    // closes rather than keep streaming it.
    let me = app.ok(Some(&member.access_token), "{ me { memberId } }", json!({})).await["me"]["memberId"].clone();
    let set = "mutation($m: ID!, $b: [ID!]!) { setMemberBrands(memberId: $m, brandIds: $b) { id } }";
    let mut socket = Subscription::connect(&base, Some(&member.access_token)).await;
    app.ok(Some(t), set, json!({ "m": me, "b": [mine, other] })).await;
    let query =
        "subscription($b: [ID!]) { agencyUpdates(brandIds: $b) { __typename ... on MentionsAdded { brandId } } }";
    socket.subscribe("1", query, json!({ "b": [other] })).await;
    // Live once a mention of the new brand comes through (the subscription must have
    // started with it before it is taken back).
    let mut probe = 0;
    loop {
        probe += 1;
        app.collect(&other_source, vec![new_mention(&format!("given-{probe}"), "giver", "Lumen is nice", 10)]).await;
        if let Ok(data) = tokio::time::timeout(std::time::Duration::from_millis(500), socket.next_data()).await {
            assert_eq!(data["agencyUpdates"]["brandId"], other);
            break;
        }
        assert!(probe < 40, "the subscription never went live");
    }
    app.ok(Some(t), set, json!({ "m": me, "b": [mine] })).await;
    assert_eq!(socket.closed().await, 4403, "losing a brand handed out after connecting ends the socket");
}

on_both_databases!(one_subscription_streams_the_brands_of_its_caller);
