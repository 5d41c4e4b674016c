//! The guided tour (`docs/tour.md`) runs as written: a server started as the README's
//! first command starts it (embedded mode, with the demo), each step's query over HTTP,
//! each answer checked against the excerpt the tour shows; GraphiQL opens on the first
//! step; the report's screenshot linked from the README is taken from this demo.

use serde_json::{Map, Value, json};
use std::path::Path;
use vigie_tests::{Backend, serve};

/// Whether `actual` holds `expected`: objects by key, arrays element by element from
/// the first, `"*"` for any value but null, anything else equal.
fn holds(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Null, _) => expected.is_null(),
        (_, Value::String(star)) if star == "*" => true,
        (Value::Object(a), Value::Object(e)) => e.iter().all(|(k, v)| a.get(k).is_some_and(|av| holds(av, v))),
        (Value::Array(a), Value::Array(e)) => e.len() <= a.len() && e.iter().zip(a).all(|(ev, av)| holds(av, ev)),
        _ => actual == expected,
    }
}

/// The tour's steps: each GraphQL block with the JSON block that follows it.
fn steps() -> Vec<(String, Value)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/tour.md")).unwrap();
    let blocks: Vec<(&str, &str)> =
        text.split("```").skip(1).step_by(2).map(|block| block.split_once('\n').unwrap_or((block, ""))).collect();
    let mut steps = Vec::new();
    for pair in blocks.windows(2) {
        if let [("graphql", query), ("json", answer)] = pair {
            let answer = serde_json::from_str(answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
            steps.push(((*query).to_owned(), answer));
        }
    }
    steps
}

async fn graphql(base: &str, token: Option<&str>, query: &str, variables: &Map<String, Value>) -> Value {
    let mut request =
        reqwest::Client::new().post(format!("{base}/graphql")).json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tour_runs_on_the_demo() {
    let server = serve(Backend::Sqlite, &[("VIGIE_DEMO", "true"), ("VIGIE_INTROSPECTION", "true")]).await;
    let steps = steps();
    assert!(steps.len() >= 9, "{} steps", steps.len());

    // GraphiQL opens on the first step.
    let init = reqwest::get(format!("{}/graphiql/init.js", server.base)).await.unwrap().text().await.unwrap();
    assert!(init.contains(steps[0].0.trim()), "GraphiQL's default query is not the tour's first step:\n{init}");

    let now = chrono::Utc::now();
    let mut variables = Map::new();
    variables.insert("from".into(), json!((now - chrono::Duration::days(61)).to_rfc3339()));
    variables.insert("to".into(), json!(now.to_rfc3339()));
    variables.insert("expires".into(), json!((now + chrono::Duration::days(14)).to_rfc3339()));
    let mut token: Option<String> = None;
    let mut report_url = None;
    for (query, expected) in &steps {
        let answer = graphql(&server.base, token.as_deref(), query, &variables).await;
        assert!(answer["errors"].is_null(), "{query}\n{answer:#}");
        let data = &answer["data"];
        assert!(holds(data, expected), "the tour's step\n{query}\nshows\n{expected:#}\nbut the demo answers\n{data:#}");
        if let Some(access) = data["logIn"]["accessToken"].as_str() {
            token = Some(access.to_owned());
        }
        for edge in data["brands"]["edges"].as_array().into_iter().flatten() {
            let name = edge["node"]["name"].as_str().unwrap();
            let key = name.split(' ').next().unwrap().to_lowercase().replace('é', "e");
            variables.insert(key, edge["node"]["id"].clone());
        }
        if let Some(endpoint) = data["webhookEndpoints"][0].get("id") {
            variables.insert("endpoint".into(), endpoint.clone());
        }
        if let Some(url) = data["createReportShare"]["url"].as_str() {
            report_url = Some(url.to_owned());
        }
    }

    // The report opens in a real browser; its screenshot is the one the README shows
    // (VIGIE_SCREENSHOT=docs/report.png writes it there).
    // The link is built on the configured public URL; this server listens elsewhere.
    let link = report_url.expect("the tour creates a report");
    let url = format!("{}{}", server.base, &link[link.find("/r/").expect("a report link")..]);
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("<html lang=\"fr\">") && page.contains("Verdure Cosmetics"), "{page}");
    assert!(page.contains("Principaux influenceurs") && page.contains("confirmée"), "{page}");
    let bars = page.matches("<rect class=\"bar\"").count();
    assert!(bars >= 55, "{bars} bars: two months of daily volume");
    let target = std::env::var("VIGIE_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join(format!("vigie-tour-{}.png", uuid::Uuid::new_v4().simple())));
    let shot = target.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"])
            .args(["--hide-scrollbars", "--window-size=900,1500", &format!("--screenshot={}", shot.display()), &url])
            .output()
            .expect("chromium (tests/run installs it)")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let png = std::fs::read(&target).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
    if std::env::var("VIGIE_SCREENSHOT").is_err() {
        let _ = std::fs::remove_file(&target);
    }
    server.stop().await;
}
