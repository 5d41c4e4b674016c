//! `vigie-api admin …`: the operator's commands against a real database.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use vigie_domain::entities::{audit_log, author, brand_influencer, job_failure, mention};
use vigie_tests::{Backend, TestApp, assert_error, db_id, on_both_databases};

async fn admin(app: &TestApp, args: &[&str]) -> Result<String, (i32, String)> {
    let mut out = Vec::new();
    match vigie_api::admin::run(app.services.config.clone(), args, &mut out).await {
        Ok(()) => Ok(String::from_utf8(out).unwrap()),
        Err(e) => Err((e.exit_code(), e.to_string())),
    }
}

const LOG_IN: &str =
    "mutation($e: String!, $p: String!) { logIn(input: { email: $e, password: $p }) { accessToken refreshToken } }";

async fn log_in(app: &TestApp, email: &str, password: &str) -> Value {
    app.gql(None, LOG_IN, json!({ "e": email, "p": password })).await
}

fn password_in(output: &str) -> String {
    output.rsplit(": ").next().unwrap().trim().to_owned()
}

async fn agency_accounts_and_dead_letters(production: bool) {
    let redis = vigie_tests::redis_url();
    let app = if production {
        TestApp::with_config(Backend::Postgres, &[("REDIS_URL", &redis)]).await
    } else {
        TestApp::new(Backend::Sqlite).await
    };

    // An agency and its owner, who logs in with the one-time password.
    let made = admin(&app, &["create-agency", "Agence Nord", "Ana Silva", "ana@nord.example"]).await.unwrap();
    let first = password_in(&made);
    assert!(first.len() >= 20, "{made}");
    let session = log_in(&app, "ana@nord.example", &first).await;
    let refresh = session["data"]["logIn"]["refreshToken"].as_str().expect("the owner logs in").to_owned();
    assert!(admin(&app, &["create-agency", "Again", "Ana", "ana@nord.example"]).await.is_err(), "one account an email");

    // A reset ends the log-ins and replaces the password.
    let reset = admin(&app, &["reset-password", "ana@nord.example"]).await.unwrap();
    let second = password_in(&reset);
    assert_ne!(first, second);
    assert_error(&log_in(&app, "ana@nord.example", &first).await, "UNAUTHENTICATED");
    let refreshed = app
        .gql(None, "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }", json!({ "t": refresh }))
        .await;
    assert!(refreshed["errors"].is_array(), "the old session ended: {refreshed}");
    assert!(log_in(&app, "ana@nord.example", &second).await["data"]["logIn"]["accessToken"].is_string());
    // A refresh racing a reset never leaves a session alive: the loop keeps refreshing
    // while the operator resets, and whatever token it holds at the end is dead.
    let session = log_in(&app, "ana@nord.example", &second).await;
    let mut token = session["data"]["logIn"]["refreshToken"].as_str().unwrap().to_owned();
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { refreshToken } }";
    let reset = admin(&app, &["reset-password", "ana@nord.example"]);
    let churn = async {
        for _ in 0..30 {
            let next = app.gql(None, refresh, json!({ "t": token })).await;
            match next["data"]["refreshToken"]["refreshToken"].as_str() {
                Some(next) => token = next.to_owned(),
                None => break,
            }
        }
    };
    let (third, ()) = tokio::join!(reset, churn);
    let third = password_in(&third.unwrap());
    assert!(app.gql(None, refresh, json!({ "t": token })).await["errors"].is_array(), "a session outlived the reset");
    let (code, _) = admin(&app, &["reset-password", "nobody@nord.example"]).await.unwrap_err();
    assert_eq!(code, 1);
    let audits = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("user.password_reset"))
        .all(&app.services.db)
        .await
        .unwrap();
    assert_eq!(audits.len(), 2, "each reset is on the agency's audit trail");
    assert!(log_in(&app, "ana@nord.example", &third).await["data"]["logIn"]["accessToken"].is_string());

    // The system's dead letters, not an agency's, are the operator's.
    let owner = app.sign_up("Other", "owner@other.example").await;
    let agencys = app.record_job_failure(&owner.agency_id, "an agency's failure").await;
    let system = system_failure(&app).await;
    let listed = admin(&app, &["dead-letters"]).await.unwrap();
    assert!(listed.contains(&system.to_string()) && listed.ends_with("1 unresolved\n"), "{listed}");
    if app.services.config.redis_url.is_none() {
        // The embedded mode's queue lives in the api process, out of this command's reach.
        let (code, message) = admin(&app, &["retry-dead-letter", &system.to_string()]).await.unwrap_err();
        assert!(code == 2 && message.contains("REDIS_URL"), "{message}");
        assert!(admin(&app, &["dead-letters"]).await.unwrap().ends_with("1 unresolved\n"), "nothing lost");
    } else {
        let (code, _) = admin(&app, &["retry-dead-letter", &db_id(&agencys).to_string()]).await.unwrap_err();
        assert_eq!(code, 1, "an agency's failure is not the operator's to retry");
        admin(&app, &["retry-dead-letter", &system.to_string()]).await.unwrap();
        let row = job_failure::Entity::find_by_id(system).one(&app.services.db).await.unwrap().unwrap();
        assert_eq!(row.resolution.as_deref(), Some("retried"));
        assert!(admin(&app, &["retry-dead-letter", &system.to_string()]).await.is_err(), "only once");
        assert!(admin(&app, &["dead-letters"]).await.unwrap().ends_with("0 unresolved\n"));
    }

    // Usage errors exit with 2 and say how to call.
    for wrong in [&["nothing"][..], &["retry-dead-letter", "not-an-id"], &["reset-password"], &[]] {
        let (code, message) = admin(&app, wrong).await.unwrap_err();
        assert_eq!(code, 2, "{wrong:?}");
        assert!(message.contains("usage: vigie-api admin"), "{message}");
    }
}
vigie_tests::in_both_modes!(agency_accounts_and_dead_letters);

async fn system_failure(app: &TestApp) -> uuid::Uuid {
    use sea_orm::{ActiveModelTrait, Set};
    let envelope =
        vigie_domain::platform::queue::Envelope::new(None, &vigie_domain::platform::mail::DispatchEmail {}).unwrap();
    let row = job_failure::ActiveModel {
        id: Set(vigie_domain::new_id()),
        agency_id: Set(None),
        job_id: Set(envelope.id.to_string()),
        kind: Set(envelope.kind.clone()),
        payload: Set(serde_json::to_value(&envelope).unwrap()),
        error: Set("SMTP down\nmore detail".into()),
        attempts: Set(6),
        failed_at: Set(vigie_domain::now()),
        resolved_at: Set(None),
        resolution: Set(None),
    }
    .insert(&app.services.db)
    .await
    .unwrap();
    row.id
}

async fn export_and_erasure(backend: Backend) {
    let app = TestApp::with_config(backend, &[("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true")]).await;
    let mine = app.sign_up("Mine", "owner@mine.example").await;
    let theirs = app.sign_up("Theirs", "owner@theirs.example").await;
    let (t, o) = (Some(mine.access_token.as_str()), Some(theirs.access_token.as_str()));
    let brand = app.create_brand(&mine.access_token, "Verdure").await;
    let other_brand = app.create_brand(&theirs.access_token, "Rival").await;
    let source = app.create_source(t, &brand).await;
    let other_source = app.create_source(o, &other_brand).await;
    app.ok(
        t,
        "mutation($b: ID) { createApiKey(input: { name: \"push\", brandId: $b }) { secret } }",
        json!({ "b": brand }),
    )
    .await;
    app.ok(t, "mutation { createWebhookEndpoint(input: { url: \"http://127.0.0.1:9/hook\", eventTypes: [\"crisis.opened\"] }) { secret } }", json!({}))
        .await;
    app.seed_influencer(&source, "@Lea_K9z", "Verdure, j'adore leur shampoing solide").await;
    app.seed_influencer(&other_source, "@lea_k9z", "Rival fait mieux que Verdure").await;
    app.seed_influencer(&source, "@marc", "Verdure livre vite").await;
    let mut reply = vigie_tests::new_mention("reply-1", "@marc", "Tout à fait d'accord avec toi", 100);
    reply.in_reply_to_author = Some("@LEA_K9Z".into());
    app.collect(&source, vec![reply]).await;

    // A content item tagged with a pillar and a value: rows of link tables.
    let value = app
        .ok(t, "mutation($b: ID!) { createBrandValue(input: { brandId: $b, name: \"Zéro plastique\", keywords: [\"plastique\"] }) { id } }", json!({ "b": brand }))
        .await["createBrandValue"]["id"]
        .clone();
    let pillar = app
        .ok(t, "mutation($b: ID!) { createCsrPillar(input: { brandId: $b, name: \"Environnement\", targetShare: 0.5, commitments: [] }) { id } }", json!({ "b": brand }))
        .await["createCsrPillar"]["id"]
        .clone();
    let item = json!({ "i": { "brandId": brand, "title": "Refill", "channel": "instagram", "body": "Refill", "scheduledAt": (chrono::Utc::now() + chrono::Duration::days(7)).to_rfc3339(), "pillarIds": [pillar], "valueIds": [value], "media": [] } });
    app.ok(t, "mutation($i: CreateContentItemInput!) { createContentItem(input: $i) { id } }", item).await;

    // The export holds the agency's rows and nobody else's, and no secret.
    let export = admin(&app, &["export-agency", &db_id(&mine.agency_id).to_string()]).await.unwrap();
    let lines: Vec<Value> = export.lines().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    let tables = |name: &str| lines.iter().filter(|l| l["table"] == name).count();
    assert_eq!(tables("agency"), 1);
    assert_eq!(tables("brand"), 1);
    assert_eq!(tables("mention"), 3);
    assert_eq!(tables("author"), 2, "the profiles its mentions name");
    assert_eq!(tables("api_key"), 1);
    assert_eq!(tables("webhook_endpoint"), 1);
    assert!(tables("user_account") == 1 && tables("membership") == 1 && tables("audit_log") >= 1);
    assert_eq!((tables("content_item"), tables("content_item_pillar"), tables("content_item_value")), (1, 1, 1));
    for secret in
        ["\"password_hash\"", "\"secret_hash\"", "\"token_hash\"", "\"secret\"", "\"previous_secret\"", "whsec_"]
    {
        assert!(!export.contains(secret), "the export holds {secret}");
    }
    // A column a later migration adds that holds a secret must be left out too.
    for line in &lines {
        for key in line["row"].as_object().unwrap().keys() {
            let suspicious = ["hash", "secret", "token", "password"].iter().any(|w| key.contains(w));
            assert!(!suspicious, "{} exports {key}", line["table"]);
        }
    }
    let foreign = [db_id(&theirs.agency_id).to_string(), db_id(&other_brand).to_string(), "Rival".to_owned()];
    assert!(foreign.iter().all(|id| !export.contains(id.as_str())), "another agency's data");
    assert!(admin(&app, &["export-agency", &uuid::Uuid::nil().to_string()]).await.is_err());

    // Erasing her blanks her mentions in both agencies and removes her profile and CRM
    // records; @marc is untouched but his reply no longer names her; each agency keeps
    // an audit row that names no one; no export holds her anymore.
    let erased = admin(&app, &["erase-author", "mastodon", "lea_K9Z"]).await.unwrap();
    assert!(erased.contains("2 mentions blanked in 2 agencies"), "{erased}");
    let db = &app.services.db;
    assert_eq!(author::Entity::find().all(db).await.unwrap().len(), 1, "only @marc is left");
    let left: Vec<mention::Model> = mention::Entity::find().all(db).await.unwrap();
    assert_eq!(left.len(), 4, "counts stay");
    let blank: Vec<_> = left.iter().filter(|m| m.author_id.is_none()).collect();
    assert_eq!(blank.len(), 2);
    assert!(blank.iter().all(|m| m.text.is_empty() && m.url.is_none() && m.external_id.starts_with("erased:")));
    assert!(left.iter().any(|m| m.text == "Verdure livre vite" && m.author_id.is_some()));
    assert!(left.iter().all(|m| m.in_reply_to_author.is_none()));
    assert_eq!(brand_influencer::Entity::find().all(db).await.unwrap().len(), 1, "only @marc's CRM record");
    let audits = audit_log::Entity::find().filter(audit_log::Column::Action.eq("author.erased")).all(db).await.unwrap();
    assert_eq!(audits.len(), 2);
    assert!(audits.iter().all(|a| a.target_id.is_none() && a.detail["mentions_blanked"] == 1), "{audits:?}");
    for agency in [&mine.agency_id, &theirs.agency_id] {
        let export = admin(&app, &["export-agency", &db_id(agency).to_string()]).await.unwrap().to_lowercase();
        let left: Vec<&str> = export.lines().filter(|l| l.contains("lea_k9z") || l.contains("shampoing")).collect();
        assert!(left.is_empty(), "{left:#?}");
    }
    let (code, _) = admin(&app, &["erase-author", "mastodon", "@lea_k9z"]).await.unwrap_err();
    assert_eq!(code, 1, "already erased: not found");
}
on_both_databases!(export_and_erasure);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_is_printed_with_secrets_masked() {
    let app =
        TestApp::with_config(Backend::Sqlite, &[("SMTP_URL", "smtp://mailer:hunter2-secret@127.0.0.1:2525")]).await;
    let printed = admin(&app, &["config"]).await.unwrap();
    assert!(printed.contains("jwt_secret: \"*** ("), "{printed}");
    assert!(printed.contains("smtp://mailer:***@127.0.0.1:2525"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
    let secret = String::from_utf8_lossy(&app.services.config.jwt_secret).into_owned();
    assert!(!printed.contains(&secret));
    assert!(printed.contains("worker_concurrency") && printed.contains("retention"), "every setting: {printed}");
}
