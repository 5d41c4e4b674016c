//! Every migration applies, rolls back and re-applies on both databases, and the
//! constraints the domain relies on hold on both.

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database};
use vigie_tests::{Backend, TestDb, on_both_databases};

async fn up_down_up_and_unique_constraints(backend: Backend) {
    let db = TestDb::new(backend).await;
    let conn = Database::connect(&db.url).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    Migrator::down(&conn, None).await.unwrap();
    assert!(Migrator::get_applied_migrations(&conn).await.unwrap().is_empty());
    Migrator::up(&conn, None).await.unwrap();
    assert!(Migrator::get_pending_migrations(&conn).await.unwrap().is_empty());

    let insert_author = |handle: &str| {
        let now = chrono::Utc::now();
        let mut stmt = Query::insert();
        stmt.into_table(Alias::new("author"))
            .columns(
                ["id", "network", "handle", "followers", "following", "verified", "created_at", "updated_at"]
                    .map(Alias::new),
            )
            .values_panic([
                uuid::Uuid::now_v7().into(),
                "mastodon".into(),
                handle.into(),
                10i64.into(),
                1i64.into(),
                false.into(),
                now.into(),
                now.into(),
            ]);
        conn.get_database_backend().build(&stmt)
    };
    conn.execute_raw(insert_author("alice@example.social")).await.unwrap();
    let duplicate = conn.execute_raw(insert_author("alice@example.social")).await;
    assert!(duplicate.is_err(), "author (network, handle) must be unique");

    // Foreign keys are enforced: a membership cannot point at a missing agency.
    let now = chrono::Utc::now();
    let mut orphan = Query::insert();
    orphan
        .into_table(Alias::new("brand"))
        .columns(
            [
                "id",
                "agency_id",
                "name",
                "tracked_keywords",
                "handles",
                "time_zone",
                "language",
                "created_at",
                "updated_at",
            ]
            .map(Alias::new),
        )
        .values_panic([
            uuid::Uuid::now_v7().into(),
            uuid::Uuid::now_v7().into(),
            "Orphan".into(),
            serde_json::json!([]).into(),
            serde_json::json!([]).into(),
            "UTC".into(),
            "en".into(),
            now.into(),
            now.into(),
        ]);
    let orphan = conn.execute_raw(conn.get_database_backend().build(&orphan)).await;
    assert!(orphan.is_err(), "foreign keys must be enforced");
}
on_both_databases!(up_down_up_and_unique_constraints);
