//! The demo's sixty days: written through the services under a simulated clock, they
//! hold what a person evaluating Vigie needs to see.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use vigie_domain::demo::{DEMO_EMAIL, DEMO_PASSWORD};
use vigie_domain::entities::{
    agency, alert, audit_log, brand, brand_influencer, content_item, email_outbox, idea, mention, ticket,
    webhook_attempt, webhook_delivery, webhook_endpoint,
};
use vigie_tests::{Backend, TestApp, on_both_databases};

async fn count<E: EntityTrait>(app: &TestApp, select: sea_orm::Select<E>) -> u64
where
    E::Model: Sync,
{
    select.count(&app.services.db).await.unwrap()
}

async fn the_demo_has_two_months_of_history(backend: Backend) {
    let app = TestApp::new(backend).await;
    let began = std::time::Instant::now();
    assert!(vigie_domain::demo::seed(&app.services).await.expect("demo"));
    println!("demo written in {:.1} s", began.elapsed().as_secs_f64());
    assert!(!vigie_domain::demo::seed(&app.services).await.unwrap(), "seeded once");

    let days: Vec<chrono::NaiveDate> = mention::Entity::find()
        .all(&app.services.db)
        .await
        .unwrap()
        .iter()
        .map(|m| m.published_at.date_naive())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(days.len() >= 59, "{} days of mentions", days.len());
    let mentions = count(&app, mention::Entity::find()).await;
    let english = count(&app, mention::Entity::find().filter(mention::Column::Lang.eq("en"))).await;
    let french = count(&app, mention::Entity::find().filter(mention::Column::Lang.eq("fr"))).await;
    println!("{mentions} mentions, {french} French, {english} English");
    assert!(english > 200 && french > 200);

    let alerts = alert::Entity::find().all(&app.services.db).await.unwrap();
    let summary: Vec<_> = alerts.iter().map(|a| (a.kind.as_str(), a.status.as_str(), a.verdict.as_deref())).collect();
    println!("{summary:?}");
    assert!(summary.contains(&("negative_spike", "resolved", Some("confirmed"))), "a crisis dealt with");
    assert!(summary.contains(&("value_gap", "resolved", Some("confirmed"))), "an accusation wave dealt with");
    assert!(summary.contains(&("negative_spike", "open", None)), "last night's crisis");

    let tickets = ticket::Entity::find().all(&app.services.db).await.unwrap();
    let state = |s: &str| tickets.iter().filter(|t| t.sla_state == s).count();
    println!(
        "tickets: {} met, {} breached, {} open",
        state("met"),
        state("breached"),
        tickets.iter().filter(|t| t.status == "open").count()
    );
    assert!(state("met") > 20 && state("breached") > 3);
    assert!(tickets.iter().any(|t| t.status == "open"), "an inbox to work on");

    let tracked = brand_influencer::Entity::find().all(&app.services.db).await.unwrap();
    let status = |s: &str| tracked.iter().filter(|t| t.relationship_status == s).count();
    println!("influencers: {} tracked, {} partners, {} watching", tracked.len(), status("partner"), status("watching"));
    assert!(status("partner") >= 2 && status("watching") >= 1);
    assert!(count(&app, idea::Entity::find().filter(idea::Column::ReportedBack.eq(true))).await >= 2);

    let items = content_item::Entity::find().all(&app.services.db).await.unwrap();
    let with = |s: &str| items.iter().filter(|i| i.status == s).count();
    println!(
        "content: {} published, {} in review, {} approved or scheduled, {} on hold",
        with("published"),
        with("in_review"),
        with("approved") + with("scheduled"),
        with("on_hold")
    );
    assert!(with("published") > 30 && with("in_review") >= 2 && with("on_hold") >= 1);

    let digests = count(
        &app,
        email_outbox::Entity::find().filter(email_outbox::Column::Subject.contains("rapport de la semaine")),
    )
    .await;
    assert!(digests >= 7, "{digests} French digests");

    // One endpoint, whose deliveries went through the product's delivery code to the
    // demo's receiver, which checked their signatures; a half-day outage of the receiver
    // shows retries. The endpoint now points at the api's own receiver.
    let endpoints = webhook_endpoint::Entity::find().all(&app.services.db).await.unwrap();
    assert_eq!(endpoints.len(), 1);
    let receiver = vigie_domain::demo::receiver::url(&app.services.config.public_url);
    assert_eq!(endpoints[0].url, receiver);
    let deliveries = webhook_delivery::Entity::find().all(&app.services.db).await.unwrap();
    let attempts = webhook_attempt::Entity::find().all(&app.services.db).await.unwrap();
    let refused = attempts.iter().filter(|a| a.status_code == Some(503)).count();
    println!("webhooks: {} deliveries, {} attempts, {refused} answered 503", deliveries.len(), attempts.len());
    assert!(deliveries.len() >= 10 && deliveries.iter().all(|d| d.status == "delivered"), "{deliveries:?}");
    assert!(deliveries.iter().any(|d| d.attempts > 1) && refused >= 1, "retries after the outage");
    assert!(attempts.iter().all(|a| matches!(a.status_code, Some(204 | 503))), "every signature was valid");
    let types: std::collections::BTreeSet<String> = deliveries
        .iter()
        .map(|d| serde_json::from_str::<serde_json::Value>(&d.payload).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(types.contains("crisis.opened") && types.contains("sla.breached"), "{types:?}");

    // The agency has its name from the start (the client's invitation carries it); a
    // whole history is recorded in its audit log.
    let agencies = agency::Entity::find().all(&app.services.db).await.unwrap();
    assert_eq!(agencies.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), [vigie_domain::demo::AGENCY]);
    let invitation = email_outbox::Entity::find()
        .filter(email_outbox::Column::Subject.contains("Join"))
        .one(&app.services.db)
        .await
        .unwrap()
        .expect("the client's invitation");
    assert_eq!(invitation.subject, format!("Join {} on Vigie", vigie_domain::demo::AGENCY));
    let written = audit_log::Entity::find().filter(audit_log::Column::Action.eq("demo.written"));
    assert_eq!(count(&app, written).await, 1);

    assert!(!app.log_in(DEMO_EMAIL, DEMO_PASSWORD).await.is_empty());
}
on_both_databases!(the_demo_has_two_months_of_history);

/// `vigie-api demo reset` starts the embedded database over with one fresh demo; it
/// leaves alone a PostgreSQL database, a SQLite database that holds other agencies, and
/// the database of a server that is running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_reset_starts_the_embedded_database_over() {
    use sea_orm::{ActiveModelTrait, Set};
    let dir = std::env::temp_dir().join(format!("vigie-demo-reset-{}", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let data_dir = dir.clone();
    let reset = move |database: Option<String>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_vigie-api-under-test"));
        command
            .args(["demo", "reset"])
            .env("VIGIE_DATA_DIR", &data_dir)
            .env("VIGIE_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .env_remove("DATABASE_URL");
        if let Some(url) = database {
            command.env("DATABASE_URL", url).env("VIGIE_JWT_SECRET", vigie_tests::TEST_JWT_SECRET);
        }
        command.output().expect("vigie-api demo reset")
    };
    let run = |database: Option<String>| {
        let reset = reset.clone();
        async move { tokio::task::spawn_blocking(move || reset(database)).await.unwrap() }
    };
    for _ in 0..2 {
        let output = run(None).await;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(String::from_utf8_lossy(&output.stdout).contains("fresh demo"));
    }
    let file = dir.join("vigie.db");
    let db = sea_orm::Database::connect(format!("sqlite://{}", file.display())).await.unwrap();
    assert_eq!(brand::Entity::find().count(&db).await.unwrap(), 3, "one demo, not two");

    // Someone's own agency in the same file: the reset refuses and the file stays.
    let now = chrono::Utc::now();
    let mine = agency::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        name: Set("Mine".into()),
        sender_email: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    mine.insert(&db).await.unwrap();
    db.close().await.unwrap();
    let refused = run(None).await;
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("agencies other than the demo's"));
    assert!(file.exists());

    // A server listening on the configured address: refused.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let busy = run(None).await;
    assert!(String::from_utf8_lossy(&busy.stderr).contains("stop the server"), "{busy:?}");
    drop(listener);

    let refused = run(Some("postgres://127.0.0.1:5432/never_touched".into())).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("drop and recreate"));
    let memory = run(Some("sqlite::memory:".into())).await;
    assert_eq!(memory.status.code(), Some(2), "{memory:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
