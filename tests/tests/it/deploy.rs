//! The deployment examples in docs/deploy/ hold to the configuration: every variable
//! they set is one Vigie reads and their values parse, their ports are the ones the
//! processes bind, their probes are the routes the processes serve, and they run the
//! binaries the workspace builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vigie_domain::Config;
use vigie_tests::Backend;
use yaml_rust2::{Yaml, YamlLoader};

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy")
}

/// The configuration a process gets from `env`: it must be valid as it stands.
fn config(env: &BTreeMap<String, String>, what: &str) -> Config {
    let documented = std::fs::read_to_string(deploy().join("../configuration.md")).unwrap();
    for name in env.keys() {
        assert!(documented.contains(&format!("`{name}`")), "{what}: {name} is not in docs/configuration.md");
    }
    Config::from_lookup(|key| env.get(key).cloned()).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Whether `binary` (a path or a name) is one a release ships: the api's, the worker's
/// or the migrations'.
fn built(binary: &str) -> bool {
    let binary = binary.rsplit('/').next().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shipped = ["vigie-api", "vigie-worker", "vigie-migration"];
    crate::docs::packages(&root)
        .iter()
        .filter(|p| shipped.contains(&p.name.as_str()))
        .any(|p| p.bins.iter().any(|(name, _)| name == binary))
}

fn env_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.split_once('=').unwrap_or_else(|| panic!("not NAME=value: {l}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// `key=value` lines of a unit's `[Service]` section, in order.
fn service(unit: &str) -> Vec<(String, String)> {
    let section = unit.split("[Service]").nth(1).expect("a [Service] section");
    let section = section.split("\n[").next().unwrap();
    section
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_systemd_units_hold_to_the_configuration() {
    let shared = env_file(&std::fs::read_to_string(deploy().join("vigie.env")).unwrap());
    let unit = |name: &str| service(&std::fs::read_to_string(deploy().join(name)).unwrap());
    let mut apis = 0;
    for name in ["vigie-migrate.service", "vigie-api.service", "vigie-worker@.service"] {
        let lines = unit(name);
        let get = |key: &str| lines.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("EnvironmentFile"), ["/etc/vigie/vigie.env"], "{name}");
        let command: Vec<&str> = get("ExecStart")[0].split_whitespace().collect();
        assert!(built(command[0]), "{name}: {} is not built", command[0]);
        // The unit's own `Environment=` lines yield to the file (systemd's rule), so
        // they may only set what the file leaves out; `%i` is the instance, 1 here.
        let mut env = shared.clone();
        for line in get("Environment") {
            let (key, value) = line.split_once('=').unwrap();
            assert!(!shared.contains_key(key), "{name}: vigie.env would override {key}");
            env.insert(key.to_owned(), value.replace("%i", "1"));
        }
        let config = config(&env, name);
        match command[..] {
            [_, "up"] => assert!(name.starts_with("vigie-migrate")),
            [_, "serve"] => {
                apis += 1;
                assert!(!config.migrate_on_start, "{name}: migrations are vigie-migrate.service's");
            }
            [worker] if worker.ends_with("vigie-worker") => assert_eq!(config.worker_bind.port(), 8091, "{name}"),
            _ => panic!("{name}: unexpected command {command:?}"),
        }
    }
    assert_eq!(apis, 1);
}

/// The documents of the Kubernetes example, by kind and name.
fn manifests() -> BTreeMap<(String, String), Yaml> {
    let text = std::fs::read_to_string(deploy().join("kubernetes.yaml")).unwrap();
    YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .into_iter()
        .map(|doc| {
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
            ((kind, name), doc)
        })
        .collect()
}

fn strings(map: &Yaml) -> BTreeMap<String, String> {
    map.as_hash()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().expect("a string value").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The environment of a container: its `envFrom` sources, then its `env`.
fn container_env(docs: &BTreeMap<(String, String), Yaml>, container: &Yaml) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_vec().into_iter().flatten() {
        if let Some(name) = source["secretRef"]["name"].as_str() {
            env.extend(strings(&docs[&("Secret".to_owned(), name.to_owned())]["stringData"]));
        }
        if let Some(name) = source["configMapRef"]["name"].as_str() {
            env.extend(strings(&docs[&("ConfigMap".to_owned(), name.to_owned())]["data"]));
        }
    }
    for var in container["env"].as_vec().into_iter().flatten() {
        env.insert(var["name"].as_str().unwrap().to_owned(), var["value"].as_str().expect("a value").to_owned());
    }
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubernetes_example_holds_to_the_configuration() {
    let docs = manifests();
    let container = |kind: &str, name: &str| {
        let doc = &docs[&(kind.to_owned(), name.to_owned())];
        doc["spec"]["template"]["spec"]["containers"][0].clone()
    };
    let command =
        |c: &Yaml| c["command"].as_vec().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect::<Vec<_>>();

    let migrate = container("Job", "vigie-migrate-1");
    assert_eq!(command(&migrate)[1..], ["up"]);
    assert!(built(&command(&migrate)[0]));
    config(&container_env(&docs, &migrate), "the migration Job");

    let api = container("Deployment", "vigie-api");
    assert_eq!(command(&api)[1..], ["serve"]);
    let api_config = config(&container_env(&docs, &api), "the api Deployment");
    assert!(!api_config.migrate_on_start, "the Job migrates; replicas must not race it");
    assert!(api_config.redis_url.is_some(), "replicas need the shared queue");
    let ports: Vec<i64> = api["ports"].as_vec().unwrap().iter().map(|p| p["containerPort"].as_i64().unwrap()).collect();
    assert!(ports.contains(&i64::from(api_config.bind.port())), "{ports:?}");
    assert!(ports.contains(&i64::from(api_config.metrics_bind.expect("metrics apart").port())));
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(api[probe]["httpGet"]["path"].as_str(), Some(path));
        assert_eq!(api[probe]["httpGet"]["port"].as_i64(), Some(i64::from(api_config.bind.port())));
    }
    let service = &docs[&("Service".to_owned(), "vigie-api".to_owned())];
    assert_eq!(service["spec"]["ports"][0]["targetPort"].as_i64(), Some(i64::from(api_config.bind.port())));
    assert!(docs[&("Deployment".to_owned(), "vigie-api".to_owned())]["spec"]["replicas"].as_i64() >= Some(2));

    let worker = container("Deployment", "vigie-worker");
    assert!(built(&command(&worker)[0]));
    let worker_config = config(&container_env(&docs, &worker), "the worker Deployment");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(worker[probe]["httpGet"]["path"].as_str(), Some(path));
        assert_eq!(worker[probe]["httpGet"]["port"].as_i64(), Some(i64::from(worker_config.worker_bind.port())));
    }
    for c in [&api, &worker] {
        assert!(
            c["resources"]["requests"]["cpu"].as_str().is_some()
                && c["resources"]["limits"]["memory"].as_str().is_some()
        );
    }

    // The probes' routes answer on a real api (the worker's are tested with its process).
    let server = vigie_tests::serve(Backend::Sqlite, &[]).await;
    for path in ["/healthz", "/readyz"] {
        let response = reqwest::get(format!("{}{path}", server.base)).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    server.api.stop().await;
}
