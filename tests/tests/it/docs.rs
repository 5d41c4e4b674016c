//! The documentation's examples run: every GraphQL block of README.md and docs/*.md
//! against the demo agency (its owner logged in, `$b` its brand), and the error shown
//! in docs/graphql.md is the one the API answers.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use vigie_domain::demo::{DEMO_EMAIL, DEMO_PASSWORD};
use vigie_tests::{Backend, TestApp};

/// `(file, language, text)` of every fenced block of the README and the docs.
fn blocks() -> Vec<(PathBuf, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> =
        std::fs::read_dir(root.join("docs")).expect("docs/").map(|entry| entry.unwrap().path()).collect();
    docs.sort();
    // The tour takes variables of its own and has its own test (`tour`).
    files.extend(
        docs.into_iter().filter(|path| path.extension().is_some_and(|ext| ext == "md") && !path.ends_with("tour.md")),
    );
    let mut blocks = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut fences = text.split("```").skip(1).step_by(2);
        for block in fences.by_ref() {
            let (language, body) = block.split_once('\n').unwrap_or((block, ""));
            blocks.push((file.clone(), language.trim().to_owned(), body.to_owned()));
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_graphql_runs() {
    let app = TestApp::with_config(Backend::Sqlite, &[("VIGIE_INTROSPECTION", "true")]).await;
    vigie_domain::demo::seed(&app.services).await.expect("demo");
    let token = app.log_in(DEMO_EMAIL, DEMO_PASSWORD).await;
    let brands = app.ok(Some(&token), "{ brands { edges { node { id } } } }", json!({})).await;
    let brand = brands["brands"]["edges"][0]["node"]["id"].as_str().expect("the demo brand").to_owned();

    let graphql: Vec<_> = blocks().into_iter().filter(|(_, language, _)| language == "graphql").collect();
    assert!(graphql.len() >= 4, "{} GraphQL examples", graphql.len());
    for (file, _, query) in &graphql {
        let response = app.gql(Some(&token), query, json!({ "b": brand })).await;
        let errors = response["errors"].as_array().cloned().unwrap_or_default();
        // A subscription validates, then this transport declines it: only a socket runs it.
        let declined = |e: &Value| e["message"] == "Subscriptions are not supported on this transport.";
        let wrong: Vec<_> = errors.iter().filter(|e| !declined(e)).collect();
        assert!(wrong.is_empty(), "{}: {query}\n{wrong:#?}", file.display());
    }

    // The error shown in docs/graphql.md, for a brand of another agency.
    let other = app.sign_up("Other", "other@example.com").await;
    let foreign = app.create_brand(&other.access_token, "Not yours").await;
    let shown = blocks()
        .into_iter()
        .find(|(file, language, body)| file.ends_with("graphql.md") && language == "json" && body.contains("NOT_FOUND"))
        .expect("the documented error");
    let shown: Value = serde_json::from_str(&shown.2).expect("the documented error is JSON");
    let mut answered =
        app.gql(Some(&token), "query($id: ID!) { brand(id: $id) { name } }", json!({ "id": foreign })).await;
    answered["errors"][0].as_object_mut().unwrap().remove("locations");
    assert_eq!(answered, shown);
}
