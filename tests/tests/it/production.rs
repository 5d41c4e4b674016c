//! The production layout end to end: the api over PostgreSQL and Redis (it runs no jobs
//! then), a separate `vigie-worker` process running them, and email to a real SMTP
//! server on loopback; with plain Redis, with Redis over TLS only and with a Redis
//! Cluster.

use serde_json::json;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use vigie_tests::redis_server::{RedisCluster, RedisServer};
use vigie_tests::smtp::SmtpServer;
use vigie_tests::ws::Subscription;
use vigie_tests::{
    Backend, TestDb, Workers, eventually, ingest_over_http, post_graphql, redis_url, test_config, until,
    value_gap_item, value_gap_watch, worker_command, worker_url,
};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn get_ok(url: &str, limit: Duration) -> String {
    eventually(&format!("{url} to answer 200"), limit, async || match reqwest::get(url).await {
        Ok(response) if response.status() == 200 => Ok(response.text().await.unwrap()),
        Ok(response) => Err(response.status().to_string()),
        Err(e) => Err(e.to_string()),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_a_separate_worker_over_postgres_and_redis() {
    api_and_a_separate_worker(&[("REDIS_URL", &redis_url())]).await;
}

/// A three-primary Redis Cluster: the queue, the bus, the rate limiter (sign-up, and
/// failed then good log-ins whose counters sit in two slots) and the caller cache all
/// work through the cluster client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_a_separate_worker_over_a_redis_cluster() {
    let cluster = RedisCluster::start();
    api_and_a_separate_worker(&[("REDIS_URL", &cluster.url()), ("VIGIE_REDIS_CLUSTER", "true")]).await;
    let per_node = cluster.keys_per_node("vigie-prod-");
    assert!(per_node.iter().filter(|&&keys| keys > 0).count() >= 2, "the queue spreads over the shards: {per_node:?}");
}

/// A cluster over TLS, between its nodes too: the client checks every node it is sent
/// to (the seeds and those it learns of) against the operator's authority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_a_separate_worker_over_a_redis_cluster_with_tls() {
    let cluster = RedisCluster::start_tls();
    let (url, ca) = (cluster.url(), cluster.ca().display().to_string());
    assert!(url.starts_with("rediss://"));
    let redis = [("REDIS_URL", url.as_str()), ("VIGIE_REDIS_CLUSTER", "true"), ("VIGIE_REDIS_CA", &ca)];
    api_and_a_separate_worker(&redis).await;
}

/// `rediss://` with the operator's certificate authority: the queue (email and webhook
/// jobs), the bus (the subscription) and the rate limiter (sign-up) all go over TLS. A
/// server that the authority did not sign, or a plain `redis://` URL, stops the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_and_a_separate_worker_over_redis_with_tls() {
    let redis = RedisServer::start_tls();
    let ca = redis.ca().display().to_string();
    api_and_a_separate_worker(&[("REDIS_URL", &redis.url()), ("VIGIE_REDIS_CA", &ca)]).await;

    let db = TestDb::new(Backend::Postgres).await;
    let other = RedisServer::start_tls();
    let start = |url: String, ca: Option<String>| {
        let mut extra = vec![("REDIS_URL", url)];
        extra.extend(ca.map(|ca| ("VIGIE_REDIS_CA", ca)));
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let config = Arc::new(test_config(&db, &extra));
        async move { vigie_api::start(config).await.err().map(|e| vigie_domain::platform::error::chain(&e)) }
    };
    // Each refusal waits out the connection's retries: they run side by side.
    let plain = redis.url().replace("rediss://", "redis://");
    let (other_ca, system_roots, plain) = tokio::join!(
        start(redis.url(), Some(other.ca().display().to_string())),
        start(redis.url(), None),
        start(plain, None)
    );
    let other_ca = other_ca.expect("another CA is refused");
    assert!(other_ca.contains("certificate"), "{other_ca}");
    let system_roots = system_roots.expect("the system's roots do not know the test CA");
    assert!(system_roots.contains("certificate"), "{system_roots}");
    assert!(plain.is_some(), "plain Redis protocol to a TLS port");
}

/// `redis`: the Redis settings (`REDIS_URL` and what goes with it), given to both.
async fn api_and_a_separate_worker(redis: &[(&str, &str)]) {
    let smtp = SmtpServer::start();
    let db = TestDb::new(Backend::Postgres).await;
    let prefix = format!("vigie-prod-{}", vigie_domain::new_id().simple());
    let mut extra = vec![
        ("VIGIE_QUEUE_PREFIX", prefix.as_str()),
        ("SMTP_URL", &smtp.url),
        ("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true"),
    ];
    extra.extend_from_slice(redis);
    let url = redis.iter().find(|(key, _)| *key == "REDIS_URL").expect("REDIS_URL").1;
    let config = Arc::new(test_config(&db, &extra));
    assert!(!config.embedded_workers());
    let running = vigie_api::start(config).await.unwrap();
    let api = format!("http://{}", running.addr);
    let stopper = running.stopper.clone();
    tokio::spawn(running.server);

    let mut command = worker_command(env!("CARGO_BIN_EXE_vigie-worker-under-test"), &db.url, url, &prefix);
    command.env("SMTP_URL", &smtp.url).env("VIGIE_ALLOW_PRIVATE_WEBHOOKS", "true").envs(redis.iter().copied());
    let worker_base = worker_url(&command);
    let mut worker = Workers(vec![command.spawn().unwrap()]);
    get_ok(&format!("{worker_base}/healthz"), Duration::from_secs(20)).await;

    let signed = post_graphql(&api, None, "mutation { signUp(input: { agencyName: \"Prod\", name: \"O\", email: \"o@example.com\", password: \"correct horse battery\" }) { accessToken } }").await;
    let token = signed["data"]["signUp"]["accessToken"].as_str().unwrap().to_owned();
    // The log-in throttle counts a failure, then forgets it on success.
    let log_in = |password: &str| {
        format!(
            "mutation {{ logIn(input: {{ email: \"o@example.com\", password: \"{password}\" }}) {{ accessToken }} }}"
        )
    };
    let wrong = post_graphql(&api, None, &log_in("wrong horse battery")).await;
    assert!(wrong["errors"][0]["extensions"]["code"].is_string(), "{wrong}");
    let good = post_graphql(&api, None, &log_in("correct horse battery")).await;
    assert!(good["data"]["logIn"]["accessToken"].is_string(), "{good}");
    let invited = post_graphql(
        &api,
        Some(&token),
        "mutation { inviteMember(input: { email: \"invitee@example.com\", role: MEMBER }) { id } }",
    )
    .await;
    assert!(invited.get("errors").is_none(), "{invited}");

    let mail = smtp.wait_for("invitee@example.com").await;
    assert!(mail.raw.contains("Join Prod on Vigie"));

    let metrics = get_ok(&format!("{worker_base}/metrics"), Duration::from_secs(5)).await;
    assert!(metrics.contains("vigie_jobs_done_total{kind=\"email.dispatch\"}"), "{metrics}");
    assert!(metrics.contains("process=\"worker\"} 1") && metrics.contains("vigie_db_pool_connections"), "{metrics}");
    let ready = get_ok(&format!("{worker_base}/readyz"), Duration::from_secs(5)).await;
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("JSON, as the api's");
    assert_eq!((ready["queue"].as_str(), ready["ready"].as_bool()), (Some("ok"), Some(true)), "{ready}");
    let queue = post_graphql(&api, Some(&token), "{ queueStatus { kind depth failures } }").await;
    let kinds = queue["data"]["queueStatus"].as_array().unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k["kind"].as_str().unwrap()).collect();
    assert_eq!(names, vigie_domain::job_registry().kinds(), "every job kind is reported");
    // Periodic kinds may hold a job at any instant; the email sent above is done.
    let email = kinds.iter().find(|k| k["kind"] == "email.dispatch").unwrap();
    assert_eq!(email, &json!({ "kind": "email.dispatch", "depth": 0, "failures": 0 }));

    // An alert opened by the worker reaches the api's WebSocket subscribers through
    // Redis pub/sub, and the worker delivers its webhook.
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let brand = post_graphql(
        &api,
        Some(&token),
        "mutation { createBrand(input: { name: \"Verdure\", timeZone: \"Europe/Paris\" }) { id } }",
    )
    .await["data"]["createBrand"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = value_gap_watch(&api, &token, &brand, &receiver.uri()).await;
    let mut feed = Subscription::start(
        &api,
        &token,
        "subscription($b: ID!) { alerts(brandId: $b) { kind status value { name } } }",
        json!({ "b": brand }),
    )
    .await;
    assert_eq!(ingest_over_http(&api, &key, json!([value_gap_item("gap-1")])).await["accepted"], 1);
    assert_eq!(
        feed.next_data().await,
        json!({ "alerts": { "kind": "VALUE_GAP", "status": "OPEN", "value": { "name": "Zéro plastique" } } })
    );
    let received = async || !receiver.received_requests().await.unwrap().is_empty();
    until("the worker to deliver the webhook", Duration::from_secs(20), received).await;
    let hook: serde_json::Value = serde_json::from_slice(&receiver.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(hook["type"], "value_gap.opened");
    eventually("the delivery in the worker's metrics", Duration::from_secs(10), async || {
        let metrics = get_ok(&format!("{worker_base}/metrics"), Duration::from_secs(5)).await;
        if metrics.contains("vigie_webhook_attempts_total{outcome=\"delivered\"} 1") { Ok(()) } else { Err(metrics) }
    })
    .await;

    Command::new("kill").args(["-TERM", &worker.0[0].id().to_string()]).status().unwrap();
    assert!(worker.0[0].wait().unwrap().success(), "the worker stops cleanly on SIGTERM");
    stopper.stop().await;
}

#[test]
fn the_worker_refuses_a_bad_configuration_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_vigie-worker-under-test"))
        .env_clear()
        .env("DATABASE_URL", "postgres://localhost/vigie")
        .env("VIGIE_BIND", "nowhere")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid configuration"), "{stderr}");
    assert!(stderr.contains("VIGIE_JWT_SECRET is required"), "{stderr}");
    assert!(stderr.contains("VIGIE_BIND"), "{stderr}");

    let data_dir = std::env::temp_dir().join(format!("vigie-{}", vigie_domain::new_id().simple()));
    let no_redis = Command::new(env!("CARGO_BIN_EXE_vigie-worker-under-test"))
        .env_clear()
        .env("VIGIE_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&data_dir);
    assert_eq!(no_redis.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_redis.stderr).contains("REDIS_URL is not set"));
}
