//! Property test of the GraphQL inputs: each mutation and filter is called with valid
//! variables in which some values (at any depth) were swapped for hostile ones. The API
//! must answer every call with data or typed client errors: no panic, and never an
//! `INTERNAL_SERVER_ERROR`, which would mean input reached a place that trusted it.

use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use vigie_domain::fuzzing::tampered;
use vigie_tests::{Backend, TestApp, error_codes};

struct Case {
    query: &'static str,
    variables: Value,
}

fn cases(brand: &str) -> Vec<Case> {
    vec![
        Case {
            query: "mutation($input: CreateBrandInput!) { createBrand(input: $input) { id } }",
            variables: json!({ "input": {
                "name": "Verdure", "sector": "cosmétique", "trackedKeywords": ["vrac"], "timeZone": "Europe/Paris",
                "handles": [{ "network": "MASTODON", "handle": "verdure" }], "language": "fr", "discoveryThreshold": 60,
                "crisisZThreshold": 3.0, "crisisMinCount": 10, "valueGapMinCount": 3, "escalationEmails": ["a@example.com"],
                "contactCadence": [{ "tier": "MACRO", "days": 30 }], "digestFrequency": "weekly"
            }}),
        },
        Case {
            query: "mutation($input: CreateSourceInput!) { createSource(input: $input) { id } }",
            variables: json!({ "input": {
                "brandId": brand, "network": "MASTODON", "kind": "HASHTAG", "target": "verdure",
                "endpoint": "https://mastodon.social", "pollIntervalSecs": 300, "enabled": false
            }}),
        },
        Case {
            query: "mutation($input: UpsertSlaPolicyInput!) { upsertSlaPolicy(input: $input) { alwaysOpen } }",
            variables: json!({ "input": {
                "brandId": brand, "timeZone": "Europe/Paris", "alwaysOpen": false,
                "targets": { "urgent": 30, "high": 60, "normal": 240, "low": 1440 },
                "businessHours": [{ "weekday": "MONDAY", "start": "09:00", "end": "18:00" }],
                "holidays": ["2026-12-25"], "escalationEmails": ["lead@example.com"]
            }}),
        },
        Case {
            query: "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { id } }",
            variables: json!({ "input": {
                "url": "http://127.0.0.1:9/vigie", "description": "crises", "eventTypes": ["crisis.opened"],
                "brandIds": [brand], "enabled": true
            }}),
        },
        Case {
            query: "mutation($input: CreateReportShareInput!) { createReportShare(input: $input) { token } }",
            variables: json!({ "input": {
                "brandId": brand, "from": "2026-11-01T00:00:00Z", "to": "2026-11-27T00:00:00Z",
                "sections": ["mentions", "sla"], "expiresAt": "2026-12-27T00:00:00Z"
            }}),
        },
        Case {
            query: "mutation($input: CreateContentItemInput!) { createContentItem(input: $input) { id } }",
            variables: json!({ "input": {
                "brandId": brand, "channel": "instagram", "title": "Le vrac", "body": "…", "media": ["https://cdn.example.com/a.jpg"],
                "scheduledAt": "2026-12-01T09:00:00Z", "pillarIds": [], "valueIds": []
            }}),
        },
        Case {
            query: "query($b: ID!, $f: MentionFilterInput, $first: Int, $after: String) { mentions(brandId: $b, filter: $f, first: $first, after: $after) { edges { node { id } } } }",
            variables: json!({
                "b": brand, "first": 10, "after": null,
                "f": { "search": "vrac", "sentiment": "NEGATIVE", "solicitation": true, "network": "MASTODON",
                       "since": "2026-11-01T00:00:00Z", "until": "2026-11-27T00:00:00Z" }
            }),
        },
        Case {
            query: "mutation($input: LogInInput!) { logIn(input: $input) { accessToken } }",
            variables: json!({ "input": { "email": "owner@example.com", "password": "correct horse battery" } }),
        },
    ]
}

#[test]
fn hostile_variables_get_typed_errors_on_sqlite() {
    hostile_variables_get_typed_errors(Backend::Sqlite);
}

#[test]
fn hostile_variables_get_typed_errors_on_postgres() {
    hostile_variables_get_typed_errors(Backend::Postgres);
}

fn hostile_variables_get_typed_errors(backend: Backend) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, token, brand) = runtime.block_on(async {
        // Webhook URLs are resolved when saved; there is no DNS here, so loopback it is.
        let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
        let owner = app.sign_up("Fuzz", "owner@example.com").await;
        let brand = app.create_brand(&owner.access_token, "Cible").await;
        (app, owner.access_token, brand)
    });
    for case in cases(&brand) {
        // The valid variables must work, or the test would only ever fuzz a refusal.
        let valid = runtime.block_on(app.gql(Some(&token), case.query, case.variables.clone()));
        assert!(valid.get("errors").is_none(), "{}: {valid:#}", case.query);

        let mut runner = TestRunner::new(Config { cases: 128, failure_persistence: None, ..Config::default() });
        runner
            .run(&tampered(case.variables.clone()), |raw| {
                let variables: Value = serde_json::from_slice(&raw).expect("JSON");
                let response = runtime.block_on(app.gql(Some(&token), case.query, variables.clone()));
                if error_codes(&response).iter().any(|code| code == "INTERNAL_SERVER_ERROR" || code == "<none>") {
                    return Err(TestCaseError::fail(format!("{variables:#} → {response:#}")));
                }
                Ok(())
            })
            .unwrap_or_else(|failure| panic!("{}: {failure}", case.query));
    }

    // Ingest bodies: two copies of a tampered item, as an array and as NDJSON. Each item
    // is stored or refused with a reason: one bad item never fails the request.
    let key = runtime.block_on(async {
        let query = "mutation($b: ID) { createApiKey(input: { name: \"fuzz\", brandId: $b }) { secret } }";
        let secret = app.ok(Some(&token), query, json!({ "b": brand })).await["createApiKey"]["secret"].clone();
        vigie_domain::api_keys::authenticate(&app.services, secret.as_str().unwrap()).await.unwrap()
    });
    let item = json!({
        "externalId": "m-1", "network": "mastodon", "url": "https://m.example/@camille/1",
        "text": "Verdure, c'est pas mauvais du tout", "publishedAt": "2026-11-20T09:30:00+01:00", "lang": "fr",
        "author": { "handle": "@camille", "displayName": "Camille", "followers": 12000, "following": 300 },
        "metrics": { "likes": 4, "shares": 2, "replies": 1, "views": 0 }, "inReplyTo": null, "direct": false
    });
    let mut runner = TestRunner::new(Config { cases: 128, failure_persistence: None, ..Config::default() });
    runner
        .run(&tampered(item), |raw| {
            let line = String::from_utf8(raw).expect("JSON is UTF-8");
            for body in [format!("[{line},{line}]"), format!("{line}\n{line}\n")] {
                match runtime.block_on(vigie_domain::sources::ingest::ingest(&app.services, &key, None, &body)) {
                    Ok(report) if report.accepted + report.rejected.len() == 2 => {}
                    Ok(report) => return Err(TestCaseError::fail(format!("{body} → {report:?}"))),
                    Err(error) => return Err(TestCaseError::fail(format!("{body} → {error}"))),
                }
            }
            Ok(())
        })
        .unwrap_or_else(|failure| panic!("ingest: {failure}"));
}
