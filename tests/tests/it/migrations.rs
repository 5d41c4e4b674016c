//! Every migration applies, rolls back and re-applies on both databases, and the
//! constraints the domain relies on hold on both.

use migration::{Migrator, MigratorTrait};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, Database};
use vigie_tests::{Backend, TestDb, on_both_databases};

async fn up_down_up_and_unique_constraints(backend: Backend) {
    let db = TestDb::empty(backend).await;
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

/// Every table whose rows carry both `brand_id` and `agency_id` tells PostgreSQL's
/// planner that the brand determines the agency (see the migration
/// `m20261203_000011_brand_agency_statistics`); a table added without it would be
/// planned as if the tenant filter cut a brand's rows by the number of agencies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_and_agency_keys_have_dependency_statistics_on_postgres() {
    let db = TestDb::empty(Backend::Postgres).await;
    let conn = Database::connect(&db.url).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    let missing = tenant_tables_where(
        &conn,
        false,
        "NOT EXISTS (SELECT 1 FROM pg_statistic_ext s WHERE s.stxrelid = t.oid AND 'f' = ANY (s.stxkind) \
           AND (SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute \
                WHERE attrelid = t.oid AND attnum = ANY (s.stxkeys)) = ARRAY['agency_id', 'brand_id'])",
    )
    .await;
    assert!(missing.is_empty(), "tables without (brand_id, agency_id) dependency statistics: {missing:?}");
    let tables = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT COUNT(*) AS n FROM pg_statistic_ext WHERE stxname LIKE 'st\\_%\\_brand\\_agency'",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tables.try_get::<i64>("", "n").unwrap(), 19, "the statistics the migrations create");
}

/// Deleting an agency removes its mentions, along the composite keys `agency → brand →
/// source → mention` on PostgreSQL (`m20261203_000012`) and the per-column keys on
/// SQLite; on PostgreSQL a mention or a source cannot name another agency or brand than
/// its parent's, whatever code writes it.
async fn the_tenant_chain_holds_and_cascades(backend: Backend) {
    use sea_orm::EntityTrait;
    use sea_orm::sea_query::Expr;
    use vigie_domain::entities::{agency, mention, source};
    use vigie_tests::{TestApp, count, new_mention};

    let app = TestApp::new(backend).await;
    let a = app.sign_up("Agence A", "chain-a@example.test").await;
    let b = app.sign_up("Agence B", "chain-b@example.test").await;
    let brand = app.create_brand(&a.access_token, "Verdure").await;
    let other_brand = app.create_brand(&a.access_token, "Canopée").await;
    let source = app.create_source(Some(&a.access_token), &brand).await;
    app.collect(&source, vec![new_mention("m1", "alice", "J'adore Verdure", 2_000)]).await;
    let db = &app.services.db;
    assert_eq!(count(db, "SELECT COUNT(*) AS n FROM mention").await, 1);

    let id = |s: &str| vigie_tests::db_id(s);
    if backend == Backend::Postgres {
        let moves = [
            mention::Entity::update_many().col_expr(mention::Column::AgencyId, Expr::value(id(&b.agency_id))),
            mention::Entity::update_many().col_expr(mention::Column::BrandId, Expr::value(id(&other_brand))),
        ];
        for update in moves {
            assert!(update.exec(db).await.is_err(), "a mention left its source's brand or agency");
        }
        let moved = source::Entity::update_many()
            .col_expr(source::Column::AgencyId, Expr::value(id(&b.agency_id)))
            .exec(db)
            .await;
        assert!(moved.is_err(), "a source left its brand's agency");
    }

    agency::Entity::delete_by_id(id(&a.agency_id)).exec(db).await.unwrap();
    assert_eq!(count(db, "SELECT COUNT(*) AS n FROM mention").await, 0, "the agency's mentions went with it");
    assert_eq!(count(db, "SELECT COUNT(*) AS n FROM source").await, 0);
}
on_both_databases!(the_tenant_chain_holds_and_cascades);

/// Every table whose rows belong to one brand (a `brand_id` that is never null, next
/// to `agency_id`) has a foreign key over both columns on PostgreSQL
/// (`m20261203_000012`): a table added with per-column keys alone would let a row name
/// one agency's brand and another agency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_owned_rows_keep_their_brands_agency_on_postgres() {
    let db = TestDb::empty(Backend::Postgres).await;
    let conn = Database::connect(&db.url).await.unwrap();
    Migrator::up(&conn, None).await.unwrap();
    let loose = tenant_tables_where(
        &conn,
        true,
        "NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'f' \
           AND (SELECT array_agg(attname::text) FROM pg_attribute \
                WHERE attrelid = t.oid AND attnum = ANY (k.conkey)) @> ARRAY['agency_id', 'brand_id'])",
    )
    .await;
    assert!(loose.is_empty(), "tables whose brand and agency keys are not checked together: {loose:?}");
    // The query finds the brand-owned tables at all (an empty answer proves nothing).
    assert_eq!(tenant_tables_where(&conn, true, "TRUE").await.len(), 14, "the brand-owned tables");
}

/// The PostgreSQL tables with both `brand_id` and `agency_id` (`brand_id` never null
/// when `brand_owned`) for which `condition` holds, `t` being the table's `pg_class`
/// row.
async fn tenant_tables_where(conn: &sea_orm::DatabaseConnection, brand_owned: bool, condition: &str) -> Vec<String> {
    let owned = if brand_owned { "AND c.is_nullable = 'NO'" } else { "" };
    let sql = format!(
        "SELECT c.table_name FROM information_schema.columns c \
         JOIN information_schema.columns a ON a.table_schema = c.table_schema \
           AND a.table_name = c.table_name AND a.column_name = 'agency_id' \
         JOIN pg_class t ON t.relname = c.table_name AND t.relnamespace = 'public'::regnamespace \
         WHERE c.table_schema = 'public' AND c.column_name = 'brand_id' {owned} AND {condition} \
         ORDER BY 1"
    );
    let rows =
        conn.query_all_raw(sea_orm::Statement::from_string(sea_orm::DatabaseBackend::Postgres, sql)).await.unwrap();
    rows.iter().map(|row| row.try_get("", "table_name").unwrap()).collect()
}

/// Rebuilding `influencer_stale` under its new key (`m20261203_000014`) and back keeps
/// the markers waiting in it, and the brand's foreign key still removes them.
async fn stale_marks_survive_the_rebuild_of_their_table(backend: Backend) {
    use sea_orm::{EntityTrait, Set};
    use vigie_domain::entities::{brand, influencer_stale};
    use vigie_tests::{TestApp, count};

    let app = TestApp::new(backend).await;
    let owner = app.sign_up("Agence", "stale-rebuild@example.test").await;
    let brand_id = vigie_tests::db_id(&app.create_brand(&owner.access_token, "Verdure").await);
    let db = &app.services.db;
    // Markers name their author without a key (authors are never deleted), and nothing
    // here enqueues a refresh that would take them.
    let author_id = vigie_domain::new_id();
    let marker = |created_at| influencer_stale::ActiveModel {
        id: Set(vigie_domain::new_id()),
        brand_id: Set(brand_id),
        author_id: Set(author_id),
        created_at: Set(created_at),
    };
    let at = vigie_domain::now();
    influencer_stale::Entity::insert_many([marker(at), marker(at)]).exec_without_returning(db).await.unwrap();
    let marks = "SELECT COUNT(*) FROM influencer_stale";
    let waiting = count(db, marks).await;
    assert_eq!(waiting, 2);

    Migrator::down(db, Some(1)).await.unwrap();
    assert_eq!(count(db, marks).await, waiting, "rolled back with its markers");
    Migrator::up(db, None).await.unwrap();
    assert_eq!(count(db, marks).await, waiting, "rebuilt with its markers");
    if backend == Backend::Postgres {
        let key = "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'influencer_stale' \
                   AND indexdef LIKE '%UNIQUE INDEX pk_influencer_stale %(brand_id, author_id, id)'";
        assert_eq!(count(db, key).await, 1, "keyed by brand, author and id");
        let indexes = "SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'influencer_stale'";
        assert_eq!(count(db, indexes).await, 1, "the key is the only index");
    }

    brand::Entity::delete_by_id(brand_id).exec(db).await.unwrap();
    assert_eq!(count(db, marks).await, 0, "the brand's markers went with it");
}
on_both_databases!(stale_marks_survive_the_rebuild_of_their_table);

/// A rolling deploy on an empty database: three api processes started at once all come
/// up (migrations take turns under an advisory lock); with `VIGIE_MIGRATE_ON_START=false`
/// an api and a worker refuse a schema older than they need, saying what to run, and
/// come up once `vigie-migrate up` (here its library call) has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_all_come_up() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let db = TestDb::empty(Backend::Postgres).await;
    let api = |migrate: bool| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_vigie-api-under-test"));
        command
            .env("DATABASE_URL", &db.url)
            .env("VIGIE_JWT_SECRET", vigie_tests::TEST_JWT_SECRET)
            .env("VIGIE_DEMO", "false")
            .env("VIGIE_BIND", format!("127.0.0.1:{port}"))
            .env("VIGIE_MIGRATE_ON_START", migrate.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        (command, format!("http://127.0.0.1:{port}"))
    };
    let ready = |base: String| async move {
        let ready = async || reqwest::get(format!("{base}/readyz")).await.is_ok_and(|r| r.status() == 200);
        vigie_tests::until(&format!("{base} to come up"), Duration::from_secs(60), ready).await;
    };

    // Before anything migrated: refused, with the way out.
    let (mut refused, _) = api(false);
    let output = refused.output().expect("the api runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && said.contains("vigie-migrate up"), "{said}");
    let redis = vigie_tests::redis_url();
    let mut worker = vigie_tests::worker_command(env!("CARGO_BIN_EXE_vigie-worker-under-test"), &db.url, &redis, "mig");
    let output = worker.stderr(Stdio::piped()).output().expect("the worker runs");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && said.contains("vigie-migrate up"), "{said}");

    let mut bases = Vec::new();
    let mut children = vigie_tests::Workers(Vec::new());
    for _ in 0..3 {
        let (mut command, base) = api(true);
        children.0.push(command.stderr(Stdio::null()).spawn().expect("the api starts"));
        bases.push(base);
    }
    futures_util::future::join_all(bases.into_iter().map(ready)).await;
    for child in &mut children.0 {
        assert!(child.try_wait().unwrap().is_none(), "every replica is still running");
    }
    let conn = Database::connect(&db.url).await.unwrap();
    assert!(Migrator::get_pending_migrations(&conn).await.unwrap().is_empty());
    drop(children);

    // Migrated: an api that does not migrate comes up.
    let (mut command, base) = api(false);
    let _api = vigie_tests::Workers(vec![command.stderr(Stdio::null()).spawn().expect("the api starts")]);
    ready(base).await;
}
