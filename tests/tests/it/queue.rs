//! The job runtime on every queue backend: in-process (with SQLite), one Redis server
//! and a three-primary Redis Cluster (with PostgreSQL). Test job kinds record what
//! happens in a per-test journal.

use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use vigie_domain::System;
use vigie_domain::platform::jobs::{JobError, Registry, Runtime, RuntimeOptions};
use vigie_domain::platform::queue::memory::MemoryQueue;
use vigie_domain::platform::queue::redis::RedisQueue;
use vigie_domain::platform::queue::{DEAD_LETTERS_KEPT, Envelope, JobPayload, Queue};
use vigie_domain::platform::redis_client::Redis;
use vigie_domain::{Services, new_id};
use vigie_tests::redis_server::RedisCluster;
use vigie_tests::{Backend, TestApp, redis_url, until};

/// One run of a test job: (attempt or slot, when).
type Run = (u32, Instant);

/// Runs of each journal key.
static JOURNAL: LazyLock<Mutex<HashMap<String, Vec<Run>>>> = LazyLock::new(Default::default);

fn record(key: &str, attempt: u32) -> usize {
    let mut journal = JOURNAL.lock().unwrap();
    let runs = journal.entry(key.to_owned()).or_default();
    runs.push((attempt, Instant::now()));
    runs.len()
}

fn runs(key: &str) -> Vec<Run> {
    JOURNAL.lock().unwrap().get(key).cloned().unwrap_or_default()
}

/// Fails `fail_times` times, then succeeds.
#[derive(Serialize, Deserialize)]
struct Flaky {
    key: String,
    fail_times: usize,
}
impl JobPayload for Flaky {
    const KIND: &'static str = "test.flaky";
    const MAX_ATTEMPTS: u32 = 5;
}

/// Always fails.
#[derive(Serialize, Deserialize)]
struct Doomed {
    key: String,
}
impl JobPayload for Doomed {
    const KIND: &'static str = "test.doomed";
    const MAX_ATTEMPTS: u32 = 3;
}

/// Panics, as a job with a bug would.
#[derive(Serialize, Deserialize)]
struct Panicky {
    key: String,
}
impl JobPayload for Panicky {
    const KIND: &'static str = "test.panicky";
    const MAX_ATTEMPTS: u32 = 3;
}

/// Records the slot it was scheduled for.
#[derive(Serialize, Deserialize)]
struct Tick {
    key: String,
    slot: i64,
}
impl JobPayload for Tick {
    const KIND: &'static str = "test.tick";
}

fn registry(tick_key: Option<String>) -> Registry {
    let mut registry = Registry::default();
    registry.register(|_s: Arc<Services>, meta, job: Flaky| async move {
        if record(&job.key, meta.attempt) <= job.fail_times { Err(JobError::Retry("not yet".into())) } else { Ok(()) }
    });
    registry.register(|_s: Arc<Services>, meta, job: Doomed| async move {
        record(&job.key, meta.attempt);
        Err(JobError::Retry("downstream is down".into()))
    });
    registry.register(|_s: Arc<Services>, meta, job: Panicky| async move {
        record(&job.key, meta.attempt);
        // The arithmetic a hostile `Retry-After` used to reach: it overflows and panics.
        let wait = chrono::Duration::seconds(std::hint::black_box(99_999_999_999_999));
        let _never = chrono::Utc::now() + wait;
        Ok(())
    });
    registry.register(|_s: Arc<Services>, _meta, job: Tick| async move {
        record(&job.key, job.slot as u32);
        Ok(())
    });
    if let Some(key) = tick_key {
        // The slot the runtime claimed, not the clock read again: near a boundary the
        // two differ, and two claims would seem to share a slot.
        registry.schedule("test.tick", Duration::from_secs(1), move |slot| {
            Envelope::new(None, &Tick { key: key.clone(), slot })
        });
    }
    registry
}

/// Where a test's jobs go.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Memory,
    Redis,
    Cluster,
}

/// A queue backend under test, with a handle on its concrete type.
enum Backing {
    Memory(Arc<MemoryQueue>),
    /// `_cluster`, when there is one, lives as long as the queue.
    Redis {
        queue: RedisQueue,
        _cluster: Option<RedisCluster>,
    },
}

impl Backing {
    async fn new(target: Target) -> Self {
        let prefix = format!("vigie-test-{}", new_id().simple());
        let (redis, cluster) = match target {
            Target::Memory => return Backing::Memory(Arc::new(MemoryQueue::new())),
            Target::Redis => (Redis::node(&redis_url()).unwrap(), None),
            Target::Cluster => {
                let cluster = RedisCluster::start();
                (Redis::open(&cluster.urls(), true, None).unwrap(), Some(cluster))
            }
        };
        let queue = RedisQueue::connect(&redis, &prefix).await.expect("Redis is required for the tests");
        Backing::Redis { queue, _cluster: cluster }
    }

    fn queue(&self) -> Arc<dyn Queue> {
        match self {
            Backing::Memory(q) => q.clone(),
            Backing::Redis { queue: q, .. } => Arc::new(q.clone()),
        }
    }

    async fn push_raw(&self, kind: &str, raw: &str) {
        match self {
            Backing::Memory(q) => q.push_raw(kind, raw),
            Backing::Redis { queue: q, .. } => q.push_raw(kind, raw).await.unwrap(),
        }
    }

    /// (kind, reason) of each dead letter.
    async fn dead_letters(&self) -> Vec<(String, String)> {
        match self {
            Backing::Memory(q) => q.dead_letters().into_iter().map(|(d, reason)| (d.kind, reason)).collect(),
            Backing::Redis { queue: q, .. } => {
                let kinds = registry(None).kinds();
                q.dead_letters(&kinds).await.unwrap().into_iter().map(|(kind, reason, _)| (kind, reason)).collect()
            }
        }
    }
}

struct Fleet {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    fn start(app: &TestApp, count: usize, tick_key: Option<String>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..count)
            .map(|_| {
                let options = RuntimeOptions { concurrency: 4, ..RuntimeOptions::default() };
                tokio::spawn(
                    Runtime::new(app.services.clone(), registry(tick_key.clone()), options).run(stopped.clone()),
                )
            })
            .collect();
        Fleet { stop, tasks }
    }

    async fn stop(self) {
        self.stop.send(true).unwrap();
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

async fn setup(target: Target) -> (TestApp, Backing) {
    let backing = Backing::new(target).await;
    let backend = if target == Target::Memory { Backend::Sqlite } else { Backend::Postgres };
    let app = TestApp::with_queue(backend, backing.queue()).await;
    (app, backing)
}

/// Runs a test body on the in-process queue (with SQLite), on one Redis server and on a
/// Redis Cluster (with PostgreSQL).
macro_rules! on_every_queue {
    ($name:ident) => {
        mod $name {
            use super::Target;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn in_process() {
                super::$name(Target::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis() {
                super::$name(Target::Redis).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_cluster() {
                super::$name(Target::Cluster).await
            }
        }
    };
}

/// Enqueues `job` as the domain's own jobs are.
async fn enqueue<J: JobPayload>(
    app: &TestApp,
    tenant: Option<uuid::Uuid>,
    job: &J,
) -> vigie_domain::Result<uuid::Uuid> {
    vigie_domain::platform::jobs::enqueue_as(System::for_tests(), &app.services, tenant, job).await
}

async fn retries_with_backoff_then_succeeds(target: Target) {
    let (app, _backing) = setup(target).await;
    let fleet = Fleet::start(&app, 1, None);
    let key = new_id().to_string();
    enqueue(&app, None, &Flaky { key: key.clone(), fail_times: 2 }).await.unwrap();
    until("three runs", Duration::from_secs(15), async || runs(&key).len() == 3).await;
    let runs = runs(&key);
    assert_eq!(runs.iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 1, 2], "attempts are counted");
    // Backoff: about 1 s then about 2 s, each with jitter down to half.
    assert!(runs[1].1 - runs[0].1 >= Duration::from_millis(450), "{:?}", runs[1].1 - runs[0].1);
    assert!(runs[2].1 - runs[1].1 >= Duration::from_millis(950), "{:?}", runs[2].1 - runs[1].1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(self::runs(&key).len(), 3, "a success is not run again");
    fleet.stop().await;
}
on_every_queue!(retries_with_backoff_then_succeeds);

async fn exhausted_jobs_are_dead_lettered_and_retry_job_runs_them_again(target: Target) {
    let (app, backing) = setup(target).await;
    let owner = app.sign_up("Agency", "owner@example.com").await;
    let tenant = vigie_tests::db_id(&owner.agency_id);
    let fleet = Fleet::start(&app, 1, None);
    let key = new_id().to_string();
    enqueue(&app, Some(tenant), &Doomed { key: key.clone() }).await.unwrap();

    let t = Some(owner.access_token.as_str());
    let query = "{ jobFailures { edges { node { id kind error attempts } } } }";
    let mut failures = json!(null);
    until("a job failure", Duration::from_secs(20), async || {
        failures = app.ok(t, query, json!({})).await;
        !failures["jobFailures"]["edges"].as_array().unwrap().is_empty()
    })
    .await;
    let failure = &failures["jobFailures"]["edges"][0]["node"];
    assert_eq!(failure["kind"], "test.doomed");
    assert_eq!(failure["attempts"], 3);
    assert!(failure["error"].as_str().unwrap().contains("gave up after 3 attempts: downstream is down"));
    assert_eq!(runs(&key).len(), 3);
    assert!(backing.dead_letters().await.iter().any(|(kind, _)| kind == "test.doomed"));

    let retried =
        app.ok(t, "mutation($id: ID!) { retryJob(id: $id) { resolution } }", json!({ "id": failure["id"] })).await;
    assert_eq!(retried["retryJob"]["resolution"], "retried");
    until("the retried job to run", Duration::from_secs(10), async || runs(&key).len() >= 4).await;
    assert_eq!(runs(&key)[3].0, 0, "a retried job starts from its first attempt");
    let again = app.gql(t, "mutation($id: ID!) { retryJob(id: $id) { id } }", json!({ "id": failure["id"] })).await;
    vigie_tests::assert_error(&again, "BAD_USER_INPUT");
    fleet.stop().await;
}
on_every_queue!(exhausted_jobs_are_dead_lettered_and_retry_job_runs_them_again);

async fn malformed_messages_are_dead_lettered_with_a_reason(target: Target) {
    let (app, backing) = setup(target).await;
    let fleet = Fleet::start(&app, 1, None);
    let ghost = Envelope {
        kind: "test.ghost".into(),
        ..Envelope::new(None, &Flaky { key: "x".into(), fail_times: 0 }).unwrap()
    };
    let newer = Envelope { version: 99, ..Envelope::new(None, &Flaky { key: "y".into(), fail_times: 0 }).unwrap() };
    let mut bad_payload = Envelope::new(None, &Flaky { key: "z".into(), fail_times: 0 }).unwrap();
    bad_payload.payload = json!({ "unexpected": true });
    backing.push_raw("test.flaky", "{not json").await;
    backing.push_raw("test.flaky", &ghost.encode()).await;
    backing.push_raw("test.flaky", &newer.encode()).await;
    backing.push_raw("test.flaky", &bad_payload.encode()).await;
    let key = new_id().to_string();
    enqueue(&app, None, &Flaky { key: key.clone(), fail_times: 0 }).await.unwrap();

    until("four dead letters", Duration::from_secs(10), async || backing.dead_letters().await.len() == 4).await;
    let reasons: Vec<String> = backing.dead_letters().await.into_iter().map(|(_, reason)| reason).collect();
    // Jobs run concurrently, so the dead letters come in any order.
    for expected in [
        "undecodable job",
        "kind `test.ghost` found on the `test.flaky` stream",
        "payload version 99 is newer",
        "bad payload",
    ] {
        assert_eq!(reasons.iter().filter(|r| r.contains(expected)).count(), 1, "`{expected}` in {reasons:?}");
    }
    until("the good job after the bad ones", Duration::from_secs(10), async || runs(&key).len() == 1).await;

    use sea_orm::{EntityTrait, PaginatorTrait};
    let rows = vigie_domain::entities::job_failure::Entity::find().count(&app.services.db).await.unwrap();
    assert_eq!(rows, 4, "each dead letter has a job_failure row");
    fleet.stop().await;
}
on_every_queue!(malformed_messages_are_dead_lettered_with_a_reason);

async fn a_periodic_task_runs_once_per_slot_across_three_workers(target: Target) {
    let (app, _backing) = setup(target).await;
    let key = new_id().to_string();
    let fleet = Fleet::start(&app, 3, Some(key.clone()));
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    fleet.stop().await;
    let slots: Vec<u32> = runs(&key).into_iter().map(|r| r.0).collect();
    let mut unique = slots.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), slots.len(), "a slot ran twice: {slots:?}");
    // The count depends on where the run falls between slot boundaries and on load;
    // what matters is that no slot runs twice.
    assert!((2..=5).contains(&slots.len()), "about one run a second: {slots:?}");
}
on_every_queue!(a_periodic_task_runs_once_per_slot_across_three_workers);

/// `receive` hands out at most `max` jobs even when several kinds have some (Redis
/// counts per stream), and the ones held back come with the next calls: none is lost,
/// none is given twice.
async fn receive_never_hands_out_more_than_asked(target: Target) {
    let (_app, backing) = setup(target).await;
    let queue = backing.queue();
    let kinds: Vec<String> = [Flaky::KIND, Doomed::KIND, Tick::KIND].map(String::from).to_vec();
    queue.prepare(&kinds).await.unwrap();
    let mut sent = Vec::new();
    for i in 0..2 {
        for envelope in [
            Envelope::new(None, &Flaky { key: format!("f{i}"), fail_times: 0 }).unwrap(),
            Envelope::new(None, &Doomed { key: format!("d{i}") }).unwrap(),
            Envelope::new(None, &Tick { key: format!("t{i}"), slot: i }).unwrap(),
        ] {
            queue.enqueue(&envelope).await.unwrap();
            sent.push(envelope.id);
        }
    }
    let mut received = Vec::new();
    for max in [1, 2, 1, 2] {
        let batch = queue.receive(&kinds, "consumer-a", max, Duration::from_millis(100)).await.unwrap();
        assert_eq!(batch.len(), max, "asked for {max}");
        for delivery in batch {
            received.push(delivery.envelope.as_ref().unwrap().id);
            queue.ack(&delivery).await.unwrap();
        }
    }
    assert!(queue.receive(&kinds, "consumer-a", 8, Duration::from_millis(100)).await.unwrap().is_empty());
    sent.sort();
    received.sort();
    assert_eq!(received, sent);
}
on_every_queue!(receive_never_hands_out_more_than_asked);

/// Each backend keeps only its newest dead letters (every one is also a `job_failure`
/// row), so a storm of failures fills neither Redis nor the process's memory.
async fn only_the_newest_dead_letters_are_kept(target: Target) {
    let backing = Backing::new(target).await;
    let queue = backing.queue();
    let kinds = vec![Doomed::KIND.to_owned()];
    queue.prepare(&kinds).await.unwrap();
    let total = DEAD_LETTERS_KEPT + 10;
    for _ in 0..total {
        queue.enqueue(&Envelope::new(None, &Doomed { key: "storm".into() }).unwrap()).await.unwrap();
    }
    let mut failed = 0;
    for _ in 0..total {
        let batch = queue.receive(&kinds, "tester", 100, Duration::from_millis(100)).await.unwrap();
        for delivery in &batch {
            queue.dead_letter(delivery, &format!("failure {failed}")).await.unwrap();
            failed += 1;
        }
        if failed == total {
            break;
        }
    }
    assert_eq!(failed, total, "every job was received");
    let reasons: Vec<String> = backing.dead_letters().await.into_iter().map(|(_, reason)| reason).collect();
    assert_eq!(reasons.len(), DEAD_LETTERS_KEPT);
    assert_eq!(reasons.first().map(String::as_str), Some("failure 10"), "the oldest went first");
    assert_eq!(reasons.last().map(String::as_str), Some(format!("failure {}", total - 1).as_str()));
}
on_every_queue!(only_the_newest_dead_letters_are_kept);

/// A job that panics is caught by the runtime: retried like a failure, then
/// dead-lettered with a `job_failure` row, never redelivered for ever.
async fn a_panicking_job_is_retried_then_dead_lettered(target: Target) {
    let (app, backing) = setup(target).await;
    let fleet = Fleet::start(&app, 1, None);
    let key = new_id().to_string();
    enqueue(&app, None, &Panicky { key: key.clone() }).await.unwrap();
    until("the dead letter", Duration::from_secs(20), async || {
        backing.dead_letters().await.iter().any(|(kind, _)| kind == "test.panicky")
    })
    .await;
    assert_eq!(runs(&key).len(), 3, "each attempt ran once");
    let failures = vigie_tests::count(
        &app.services.db,
        "SELECT COUNT(*) FROM job_failure WHERE kind = 'test.panicky' AND error LIKE '%panicked%'",
    )
    .await;
    assert_eq!(failures, 1);
    fleet.stop().await;
}
on_every_queue!(a_panicking_job_is_retried_then_dead_lettered);

/// A message delivered five times without an outcome (its worker crashed or hung each
/// time) is dead-lettered on the next delivery instead of being run again.
async fn a_job_that_never_settles_is_dead_lettered_after_five_deliveries(target: Target) {
    let (app, backing) = setup(target).await;
    let key = new_id().to_string();
    enqueue(&app, None, &Flaky { key: key.clone(), fail_times: 0 }).await.unwrap();
    let queue = backing.queue();
    let kinds = vec!["test.flaky".to_owned()];
    queue.prepare(&kinds).await.unwrap();
    let first = queue.receive(&kinds, "crashed-0", 1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(first[0].deliveries, 1);
    for n in 2..=5 {
        let again = queue.reclaim(&kinds, &format!("crashed-{n}"), Duration::ZERO, 1).await.unwrap();
        assert_eq!(again[0].deliveries, n, "deliveries are counted");
    }
    let options = RuntimeOptions { visibility: Duration::from_secs(1), ..RuntimeOptions::default() };
    let (stop, stopped) = watch::channel(false);
    let runtime = tokio::spawn(Runtime::new(app.services.clone(), registry(None), options).run(stopped));
    until("the dead letter", Duration::from_secs(20), async || {
        backing.dead_letters().await.iter().any(|(kind, _)| kind == "test.flaky")
    })
    .await;
    assert!(runs(&key).is_empty(), "the job was not run a sixth time");
    let failures = vigie_tests::count(
        &app.services.db,
        "SELECT COUNT(*) FROM job_failure WHERE kind = 'test.flaky' AND error LIKE '%delivered 5 times%'",
    )
    .await;
    assert_eq!(failures, 1);
    stop.send(true).unwrap();
    runtime.await.unwrap();
}
on_every_queue!(a_job_that_never_settles_is_dead_lettered_after_five_deliveries);

/// On a cluster each kind's keys carry their own hash tag, so the kinds spread over the
/// shards instead of sitting on one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_the_kinds_spread_over_every_shard() {
    let cluster = RedisCluster::start();
    // The cluster is the test's own: a fixed prefix puts the kinds in the same slots on
    // every run, and these fall on every shard (a random one would miss a shard once in
    // a few hundred runs).
    let prefix = "vigie-spread";
    let queue = RedisQueue::connect(&Redis::open(&cluster.urls(), true, None).unwrap(), prefix).await.unwrap();
    let kinds = vigie_domain::job_registry().kinds();
    assert!(kinds.len() >= 12, "{kinds:?}");
    queue.prepare(&kinds).await.unwrap();
    for kind in &kinds {
        queue.push_raw(kind, "{}").await.unwrap();
    }
    let per_node = cluster.keys_per_node(prefix);
    assert_eq!(per_node.iter().sum::<usize>(), kinds.len(), "one stream per kind: {per_node:?}");
    assert!(per_node.iter().all(|&keys| keys > 0), "every shard holds some kinds: {per_node:?}");
}
