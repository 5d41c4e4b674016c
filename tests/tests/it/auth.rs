//! Sign-up, log-in, tokens and sessions, including every kind of bad credential.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::time::Instant;
use vigie_tests::{Backend, TestApp, assert_error, on_both_databases};

const SIGN_UP: &str =
    "mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { email } agency { name } role } }";
const LOG_IN: &str =
    "mutation($input: LogInInput!) { logIn(input: $input) { accessToken refreshToken role agency { id } } }";
const ME: &str = "{ me { user { email } agency { id name } role } }";
const REFRESH: &str = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }";

async fn agency_count(app: &TestApp) -> usize {
    use sea_orm::{EntityTrait, PaginatorTrait};
    vigie_domain::entities::agency::Entity::find().count(&app.services.db).await.unwrap() as usize
}

async fn sign_up_log_in_and_me(backend: Backend) {
    let app = TestApp::new(backend).await;
    let data = app
        .ok(None, SIGN_UP, json!({ "input": { "agencyName": "Agence Lumière", "name": "Léa", "email": " Lea@Example.COM ", "password": "correct horse battery" } }))
        .await;
    assert_eq!(data["signUp"]["user"]["email"], "lea@example.com");
    assert_eq!(data["signUp"]["role"], "OWNER");
    let token = data["signUp"]["accessToken"].as_str().unwrap();
    let me = app.ok(Some(token), ME, json!({})).await;
    assert_eq!(me["me"]["agency"]["name"], "Agence Lumière");

    let login = app
        .ok(None, LOG_IN, json!({ "input": { "email": "lea@example.com", "password": "correct horse battery" } }))
        .await;
    assert_eq!(login["logIn"]["role"], "OWNER");
    let me = app.ok(login["logIn"]["accessToken"].as_str(), ME, json!({})).await;
    assert_eq!(me["me"]["user"]["email"], "lea@example.com");
}
on_both_databases!(sign_up_log_in_and_me);

async fn malformed_and_duplicate_sign_up_change_nothing(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.sign_up("First", "taken@example.com").await;
    let before = agency_count(&app).await;
    let cases = [
        (
            json!({ "agencyName": "X", "name": "N", "email": "not-an-email", "password": "correct horse battery" }),
            "BAD_USER_INPUT",
            Some("email"),
        ),
        (
            json!({ "agencyName": "X", "name": "N", "email": "a@example.com", "password": "short" }),
            "BAD_USER_INPUT",
            Some("password"),
        ),
        (
            json!({ "agencyName": "   ", "name": "N", "email": "b@example.com", "password": "correct horse battery" }),
            "BAD_USER_INPUT",
            Some("agencyName"),
        ),
        (
            json!({ "agencyName": "X", "name": "N", "email": "TAKEN@example.com", "password": "correct horse battery" }),
            "CONFLICT",
            None,
        ),
        (json!({ "agencyName": "X", "name": "N" }), "BAD_USER_INPUT", None),
    ];
    for (input, code, field) in cases {
        let response = app.gql(None, SIGN_UP, json!({ "input": input })).await;
        assert_error(&response, code);
        if let Some(field) = field {
            assert_eq!(response["errors"][0]["extensions"]["field"], field, "{response}");
        }
    }
    assert_eq!(agency_count(&app).await, before, "a rejected sign-up must create nothing");
}
on_both_databases!(malformed_and_duplicate_sign_up_change_nothing);

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let app = TestApp::new(backend).await;
    app.sign_up("Agency", "known@example.com").await;
    let attempt = |email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let response =
                app.gql(None, LOG_IN, json!({ "input": { "email": email, "password": "wrong password!" } })).await;
            (response, started.elapsed())
        }
    };
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let (r1, t1) = attempt("known@example.com").await;
        let (r2, t2) = attempt("nobody@example.com").await;
        assert_error(&r1, "UNAUTHENTICATED");
        assert_error(&r2, "UNAUTHENTICATED");
        assert_eq!(r1["errors"][0]["message"], r2["errors"][0]["message"]);
        wrong.push(t1);
        unknown.push(t2);
    }
    wrong.sort();
    unknown.sort();
    // Not a performance assertion: without the dummy hash an unknown email answers in
    // well under a millisecond, some fifty times faster than a password check; the
    // margin here is ten times wider than any scheduling noise.
    assert!(unknown[1] * 4 >= wrong[1], "unknown email answered too fast: {:?} vs {:?}", unknown[1], wrong[1]);
}
on_both_databases!(wrong_password_and_unknown_email_look_the_same);

fn forge(secret: &[u8], sub: &str, agency: &str, exp_offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let (sub, agency) = (vigie_tests::db_id(sub), vigie_tests::db_id(agency));
    let claims = json!({ "sub": sub, "agency": agency, "iss": "vigie", "iat": now, "exp": now + exp_offset });
    encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn bad_access_tokens_are_rejected(backend: Backend) {
    let app = TestApp::new(backend).await;
    let a = app.sign_up("A", "a@example.com").await;
    let b = app.sign_up("B", "b@example.com").await;
    let secret = app.services.config.jwt_secret.clone();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = a.access_token.split('.').nth(1).unwrap();
    let tokens: Vec<(&str, String)> = vec![
        ("expired", forge(&secret, &a.user_id, &a.agency_id, -120)),
        ("other key", forge(b"another-secret-another-secret-another", &a.user_id, &a.agency_id, 600)),
        ("alg none", format!("{}.{payload}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#))),
        ("claims name another agency", forge(&secret, &a.user_id, &b.agency_id, 600)),
        ("garbage", "not.a.token".into()),
    ];
    for (what, token) in tokens {
        let response = app.gql(Some(&token), ME, json!({})).await;
        assert_error(&response, "UNAUTHENTICATED");
        let text = response.to_string();
        assert!(!text.contains("a@example.com") && !text.contains(&b.agency_id), "{what}: data leaked: {text}");
    }
    let expired = app.gql(Some(&forge(&secret, &a.user_id, &a.agency_id, -120)), ME, json!({})).await;
    assert!(expired["errors"][0]["message"].as_str().unwrap().contains("expired"));
}
on_both_databases!(bad_access_tokens_are_rejected);

async fn refresh_tokens_rotate_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::new(backend).await;
    let first = app.sign_up("A", "a@example.com").await;
    let second = app.ok(None, REFRESH, json!({ "t": first.refresh_token })).await;
    let second_refresh = second["refreshToken"]["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first.refresh_token);
    app.ok(second["refreshToken"]["accessToken"].as_str(), ME, json!({})).await;

    // Reusing the rotated token: refused, and the whole family is revoked.
    assert_error(&app.gql(None, REFRESH, json!({ "t": first.refresh_token })).await, "UNAUTHENTICATED");
    assert_error(&app.gql(None, REFRESH, json!({ "t": second_refresh })).await, "UNAUTHENTICATED");

    // Another log-in is another family, unaffected; log-out revokes it.
    let login = app
        .ok(None, LOG_IN, json!({ "input": { "email": "a@example.com", "password": "correct horse battery" } }))
        .await;
    let refresh = login["logIn"]["refreshToken"].as_str().unwrap().to_owned();
    let out = app.ok(None, "mutation($t: String!) { logOut(refreshToken: $t) }", json!({ "t": refresh })).await;
    assert_eq!(out["logOut"], Value::Bool(true));
    assert_error(&app.gql(None, REFRESH, json!({ "t": refresh })).await, "UNAUTHENTICATED");
    assert_error(&app.gql(None, REFRESH, json!({ "t": "vgr_made_up" })).await, "UNAUTHENTICATED");
}
on_both_databases!(refresh_tokens_rotate_and_reuse_revokes_the_family);

async fn queries_over_the_limits_are_refused_before_running(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_INTROSPECTION", "true")]).await;
    let owner = app.sign_up("A", "a@example.com").await;
    let token = Some(owner.access_token.as_str());
    let deep = format!("{{ me {{ {}id{} }} }}", "agency { ".repeat(12), " }".repeat(12));
    assert_error(&app.gql(token, &deep, json!({})).await, "QUERY_TOO_COMPLEX");
    let aliases: String = (0..30)
        .map(|i| format!("b{i}: brands(first: 100) {{ edges {{ node {{ name values {{ name }} }} }} }} "))
        .collect();
    assert_error(&app.gql(token, &format!("{{ {aliases} }}"), json!({})).await, "QUERY_TOO_COMPLEX");
    let huge = app.gql(token, "{ brands(first: 100000) { edges { node { id } } } }", json!({})).await;
    assert_error(&huge, "BAD_USER_INPUT");
    let bad_cursor = app.gql(token, r#"{ brands(after: "nope") { edges { node { id } } } }"#, json!({})).await;
    assert_error(&bad_cursor, "BAD_USER_INPUT");
}
on_both_databases!(queries_over_the_limits_are_refused_before_running);

async fn concurrent_sign_ups_with_one_email_make_one_agency(backend: Backend) {
    let app = TestApp::new(backend).await;
    let attempts = (0..5).map(|i| {
        let app = &app;
        async move {
            let input = json!({ "input": { "agencyName": format!("Race {i}"), "name": "N", "email": "race@example.com", "password": "correct horse battery" } });
            app.gql(None, SIGN_UP, input).await
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let succeeded = responses.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(succeeded, 1, "{responses:#?}");
    for response in responses.iter().filter(|r| r.get("errors").is_some()) {
        assert_error(response, "CONFLICT");
    }
    assert_eq!(agency_count(&app).await, 1);
}
on_both_databases!(concurrent_sign_ups_with_one_email_make_one_agency);

async fn a_refresh_token_used_twice_at_once_yields_one_session(backend: Backend) {
    let app = TestApp::new(backend).await;
    let login = app.sign_up("A", "a@example.com").await;
    let uses = (0..4).map(|_| app.gql(None, REFRESH, json!({ "t": login.refresh_token })));
    let responses = futures_util::future::join_all(uses).await;
    let succeeded = responses.iter().filter(|r| r.get("errors").is_none()).count();
    assert_eq!(succeeded, 1, "a refresh token is single use: {responses:#?}");
    for response in responses.iter().filter(|r| r.get("errors").is_some()) {
        assert_error(response, "UNAUTHENTICATED");
    }
}
on_both_databases!(a_refresh_token_used_twice_at_once_yields_one_session);
