//! The REST routes' OpenAPI document: valid by an independent validator
//! (`openapi-spec-validator`), complete (every REST route the server answers is in it),
//! and true (schemathesis sends what the document allows and worse, and every answer must
//! be one the document declares, in its declared shape, and never a 5xx). Both tools come
//! from PyPI into the virtual environment `tests/run` prepares (`VIGIE_TEST_PYTHON_TOOLS`).

use std::path::PathBuf;
use std::process::Command;
use vigie_tests::{Backend, agency_with_brand, post_graphql, serve};

/// A tool of the virtual environment `tests/run` fills from `tests/python-tools.txt`.
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var("VIGIE_TEST_PYTHON_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/python-tools"));
    let tool = dir.join("bin").join(name);
    assert!(tool.exists(), "{} is missing: run the tests through tests/run, which installs it", tool.display());
    tool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_and_names_every_rest_route() {
    let server = serve(Backend::Sqlite, &[]).await;
    let response = reqwest::get(format!("{}/openapi.json", server.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: serde_json::Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");

    let file = std::env::temp_dir().join(format!("vigie-openapi-{}.json", vigie_domain::new_id().simple()));
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();
    let checked = Command::new(tool("openapi-spec-validator")).arg(&file).output().unwrap();
    let _ = std::fs::remove_file(&file);
    let said = String::from_utf8_lossy(&checked.stdout).into_owned() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.contains("OK"), "{said}");

    let mut documented: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |method| format!("{method} {path}")))
        .collect();
    documented.sort();
    // GraphQL (its own schema), its tools, `/metrics` (often on its own listener) and the
    // demo's receiver are the routes left out; everything else is described.
    assert_eq!(
        documented,
        [
            "get /calendar/{token}.ics",
            "get /healthz",
            "get /oauth/{network}/callback",
            "get /openapi.json",
            "get /r/{token}",
            "get /r/{token}/{section}.csv",
            "get /readyz",
            "get /webhooks/meta",
            "post /ingest/mentions",
            "post /webhooks/meta",
        ]
    );
    let routes = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../api/src/http.rs")).unwrap();
    let routes = &routes[routes.find("pub fn routes").unwrap()..];
    let routes = &routes[..routes.find("\n}\n").unwrap()];
    let mut served: Vec<&str> = routes.split('"').skip(1).step_by(2).filter(|s| s.starts_with('/')).collect();
    served.retain(|route| {
        !route.starts_with("/graphql") && !route.starts_with("/graphiql") && !route.starts_with("/demo/")
    });
    served.retain(|route| *route != "/metrics");
    for route in served {
        // `{file}` stands for `{token}.ics` and `{section}.csv` in the document.
        let stem = route.split("{file}").next().unwrap();
        assert!(documented.iter().any(|d| d.contains(stem)), "{route} is served but not documented");
    }
}

/// schemathesis against a server with data behind its routes: a brand key for ingest,
/// share tokens, and rate limits off so that its hundreds of requests reach the
/// handlers. A fixed seed keeps the run the same from one CI run to the next;
/// `VIGIE_FUZZ_EXAMPLES=2000 VIGIE_FUZZ_SEED=random` runs it longer on fresh inputs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_document_does_not_allow() {
    let off = [
        ("VIGIE_RATE_LIMIT_ANONYMOUS", "off"),
        ("VIGIE_RATE_LIMIT_INGEST", "off"),
        ("VIGIE_RATE_LIMIT_GRAPHQL", "off"),
    ];
    let server = serve(Backend::Postgres, &off).await;
    let (token, brand, key) = agency_with_brand(&server.base, "fuzz@example.com").await;
    let shares = format!(
        "mutation {{ createReportShare(input: {{ brandId: \"{brand}\", from: \"2026-01-01T00:00:00Z\", to: \"2026-12-31T00:00:00Z\", expiresAt: \"{}\" }}) {{ token }} \
         createCalendarShare(brandId: \"{brand}\") {{ token }} }}",
        (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339()
    );
    let shares = post_graphql(&server.base, Some(&token), &shares).await;
    let report = shares["data"]["createReportShare"]["token"].as_str().unwrap_or_else(|| panic!("{shares}"));
    let calendar = shares["data"]["createCalendarShare"]["token"].as_str().unwrap();
    // Half of the tokens and sections are real ones, so the answers with data are checked
    // too; the other half are whatever schemathesis makes up.
    let config = std::env::temp_dir().join(format!("vigie-schemathesis-{}.toml", vigie_domain::new_id().simple()));
    std::fs::write(
        &config,
        format!(
            r#"[dictionaries]
reports = {{ values = ["{report}"] }}
calendars = {{ values = ["{calendar}"] }}
sections = {{ values = ["mentions", "influencers", "sla", "alerts", "csr"] }}

[[operations]]
include-path-regex = "^/r/"
parameters = {{ "path.token" = {{ dictionary = "reports", probability = 0.5 }}, "path.section" = {{ dictionary = "sections", probability = 0.5 }} }}

[[operations]]
include-path-regex = "^/calendar/"
parameters = {{ "path.token" = {{ dictionary = "calendars", probability = 0.5 }} }}
"#
        ),
    )
    .unwrap();
    let mut command = Command::new(tool("schemathesis"));
    command
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/openapi.json", server.base)])
        .args(["--header", &format!("Authorization: Bearer {key}")])
        .args(["--checks", CHECKS, "--workers", "1", "--max-examples"])
        .arg(std::env::var("VIGIE_FUZZ_EXAMPLES").unwrap_or_else(|_| "40".into()));
    match std::env::var("VIGIE_FUZZ_SEED").as_deref() {
        Ok("random") => {}
        Ok(seed) => drop(command.args(["--seed", seed])),
        Err(_) => drop(command.args(["--seed", "20261205"])),
    }
    command.args(["--request-timeout", "10", "--no-color"]).env("SCHEMATHESIS_TELEMETRY", "false");
    // The server runs on this test's runtime: the wait happens off it.
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let _ = std::fs::remove_file(&config);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}\n{}", String::from_utf8_lossy(&output.stderr));
    let count = |label: &str| said.lines().find_map(|line| line.trim().strip_prefix(label)).map(str::trim);
    let selected = count("Selected:").and_then(|s| s.split('/').nth(1)).expect("a summary");
    assert_eq!(count("Tested:"), Some(selected), "every operation was tested: {said}");
    assert!(!said.contains("Missing test data"), "the shared routes were reached with data: {said}");
}

/// What schemathesis holds the answers to. Left out: `positive_data_acceptance` and
/// `negative_data_rejection`, since items are checked one by one and a batch is stored in
/// part (a schema-invalid item is refused in the report while the others are stored,
/// answering 200), and the server checks more than a JSON Schema can say (a date at most
/// an hour ahead, an id that names a brand); and the stateful checks, as no route
/// creates what another reads.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,missing_required_header,unsupported_method";
