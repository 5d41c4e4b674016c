//! The documentation's examples run: every GraphQL block of README.md and docs/*.md
//! against the demo agency (its owner logged in, `$b` its brand), the error shown in
//! docs/graphql.md is the one the API answers, and every shell command is checked
//! (`the_documented_commands_run`).

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
        // An unclosed fence would shift every later block into prose and out of the checks.
        assert!(text.matches("```").count() % 2 == 0, "{}: a fence is not closed", file.display());
        let mut fences = text.split("```").skip(1).step_by(2);
        for block in fences.by_ref() {
            let (language, body) = block.split_once('\n').unwrap_or((block, ""));
            let language = language.trim();
            // Every block says what it is, so that none escapes the checks unseen.
            let known = ["sh", "graphql", "json", "text"];
            assert!(known.contains(&language), "{}: a ```{language} block (tag it one of {known:?})", file.display());
            blocks.push((file.clone(), language.to_owned(), body.to_owned()));
        }
    }
    blocks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_graphql_runs() {
    // A YouTube application, so that the documented authorisation starts (it calls
    // nothing until the manager's browser comes back).
    let youtube =
        [("VIGIE_YOUTUBE_CLIENT_ID", "docs.apps.googleusercontent.com"), ("VIGIE_YOUTUBE_CLIENT_SECRET", "docs")];
    let app = TestApp::with_config(Backend::Sqlite, &[("VIGIE_INTROSPECTION", "true"), youtube[0], youtube[1]]).await;
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

/// A workspace package: its name, directory, and binaries with their sources.
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) bins: Vec<(String, PathBuf)>,
}

/// The workspace's packages and the binaries each builds, from the Cargo.toml files.
pub(crate) fn packages(root: &Path) -> Vec<Package> {
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let members = workspace.split("members = [").nth(1).and_then(|m| m.split(']').next()).expect("members");
    let value = |line: &str| line.split('"').nth(1).map(str::to_owned);
    let mut packages = Vec::new();
    for member in members.split(',').filter_map(|m| value(m.trim())) {
        let dir = root.join(&member);
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let name = manifest.lines().find(|l| l.starts_with("name =")).and_then(value).expect("package name");
        let field = |section: &str, key: &str| section.lines().find(|l| l.trim().starts_with(key)).and_then(value);
        let mut bins: Vec<(String, PathBuf)> = manifest
            .split("[[bin]]")
            .skip(1)
            .filter_map(|section| Some((field(section, "name =")?, dir.join(field(section, "path =")?))))
            .collect();
        if bins.is_empty() && dir.join("src/main.rs").exists() {
            bins.push((name.clone(), dir.join("src/main.rs")));
        }
        packages.push(Package { name, dir, bins });
    }
    packages
}

/// Every command of the `sh` blocks in the README and the docs is checked: environment
/// variables are documented in docs/configuration.md and read by the code; `cargo run
/// -p` names a package with a binary and a subcommand its `main` knows; binaries under
/// `target/` are built by the workspace; `curl` examples run against a live api; scripts
/// exist and are executable. A command of another kind fails the test until a check is
/// written for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let packages = packages(&root);
    let configuration = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let code: String = ["domain/src/platform", "api/src", "worker/src", "migration/src"]
        .map(|dir| rust_sources(&root.join(dir)))
        .concat();
    let package = |name: &str| packages.iter().find(|package| package.name == name);
    let server = vigie_tests::serve(Backend::Sqlite, &[]).await;
    let mut key = None;
    let mut checked = 0;
    for (file, _, body) in blocks().into_iter().filter(|(_, language, _)| language == "sh") {
        let joined = body.replace("\\\n", " ");
        let commands = joined
            .lines()
            .map(|line| line.split(" #").next().unwrap_or("").trim().to_owned())
            .flat_map(|line| line.split(" && ").map(str::to_owned).collect::<Vec<_>>())
            .filter(|command| !command.is_empty());
        for command in commands {
            let place = format!("{}: `{command}`", file.display());
            let plain = without_substitutions(&command);
            let words: Vec<&str> = plain.split_whitespace().collect();
            let mut rest = &words[..];
            if rest.first() == Some(&"export") {
                rest = &rest[1..];
            }
            // Leading `NAME=value` assignments, then the command itself (if any).
            while let Some(word) = rest.first().filter(|w| w.split_once('=').is_some_and(|(n, _)| is_env_name(n))) {
                let name = word.split_once('=').unwrap().0;
                assert!(
                    configuration.contains(&format!("`{name}`")),
                    "{place}: {name} is not in docs/configuration.md"
                );
                assert!(code.contains(&format!("\"{name}\"")), "{place}: no code reads {name}");
                rest = &rest[1..];
            }
            match rest {
                [] => {}
                ["cargo", "build", flags @ ..] => {
                    let mut flags = flags.iter();
                    while let Some(flag) = flags.next() {
                        match *flag {
                            "--release" | "--workspace" | "--bins" => {}
                            "-p" => assert!(package(flags.next().unwrap()).is_some(), "{place}"),
                            other => panic!("{place}: cargo build {other} is not checked"),
                        }
                    }
                }
                ["cargo", "run", rest @ ..] => {
                    let rest = rest.strip_prefix(&["--release"]).unwrap_or(rest);
                    let ["-p", name, rest @ ..] = rest else { panic!("{place}: cargo run without -p") };
                    let Package { dir, bins, .. } =
                        package(name).unwrap_or_else(|| panic!("{place}: no package {name}"));
                    let (source, args) = match rest {
                        ["--bin", bin, args @ ..] => {
                            let found = bins.iter().find(|(b, _)| b == bin);
                            (found.unwrap_or_else(|| panic!("{place}: {name} has no binary {bin}")).1.clone(), args)
                        }
                        args => {
                            assert_eq!(bins.len(), 1, "{place}: `cargo run -p {name}` needs exactly one binary");
                            (bins[0].1.clone(), args)
                        }
                    };
                    let source = std::fs::read_to_string(&source).unwrap()
                        + &std::fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
                    // Its subcommand or flags (`[--flag]` is an optional one) are ones its
                    // `main` knows.
                    for arg in args.iter().skip(1) {
                        let arg = arg.trim_start_matches('[').trim_end_matches(']');
                        let known = source.contains(&format!("\"{arg}\""));
                        if arg.starts_with("--") || arg.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                            assert!(known, "{place}: {name} does not know `{arg}`");
                        }
                    }
                }
                ["cargo", "test", "-p", "vigie-tests", "--test", "it", "--", filter, ..] => {
                    let mut path = filter.split("::");
                    let (module, test) = (path.next().unwrap(), path.next().unwrap_or(""));
                    let file = root.join(format!("tests/tests/it/{module}.rs"));
                    let source = std::fs::read_to_string(&file).unwrap_or_default();
                    assert!(source.contains(&format!("fn {test}(")), "{place}: no test {module}::{test}");
                }
                [binary, ..] if binary.trim_start_matches("./").starts_with("target/") => {
                    // `target/release/NAME` in capitals stands for any of them.
                    let name = binary.rsplit('/').next().unwrap();
                    let placeholder = name.chars().all(|c| c.is_ascii_uppercase());
                    let built = packages.iter().any(|package| package.bins.iter().any(|(b, _)| b == name));
                    assert!(placeholder || built, "{place}: no binary {name}");
                }
                [binary, args @ ..] if packages.iter().any(|p| p.bins.iter().any(|(b, _)| b == binary)) => {
                    // An installed binary: its subcommands (the leading lower-case words)
                    // are ones its package's code matches on.
                    let package = packages.iter().find(|p| p.bins.iter().any(|(b, _)| b == binary)).unwrap();
                    let code = rust_sources(&package.dir.join("src"));
                    let is_word = |a: &&&str| a.chars().all(|c| c.is_ascii_lowercase() || c == '-');
                    for arg in args.iter().take_while(is_word).take(2) {
                        assert!(code.contains(&format!("\"{arg}\"")), "{place}: {binary} has no `{arg}`");
                    }
                }
                ["curl", args @ ..] => {
                    run_curl(&server.base, args, &mut key, &place).await;
                }
                [script] if root.join(script).is_file() => {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(root.join(script)).unwrap().permissions().mode();
                    assert!(mode & 0o111 != 0, "{place}: not executable");
                }
                _ => panic!("{place}: no check for this kind of command; add one to this test"),
            }
            checked += 1;
        }
    }
    // As many as the docs hold today: a block that stops being read fails here.
    assert!(checked >= 33, "{checked} commands checked");
    server.api.stop().await;
}

/// `command` with each `$(…)` replaced by a word, so that a value computed by a
/// substitution stays one word.
fn without_substitutions(command: &str) -> String {
    let mut out = String::new();
    let mut rest = command;
    while let Some(at) = rest.find("$(") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find(')').map_or(rest.len(), |e| at + e + 1);
        out.push_str("computed");
        rest = &rest[end..];
    }
    out + rest
}

/// The text of every `.rs` file under `dir`.
fn rust_sources(dir: &Path) -> String {
    let mut code = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            code.push_str(&std::fs::read_to_string(&path).unwrap());
        }
    }
    code
}

fn is_env_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Signs up, makes a brand and an API key limited to it; returns the key.
async fn api_key(base: &str) -> String {
    let sign_up = r#"mutation { signUp(input: { agencyName: "Docs", name: "Doc", email: "docs@example.com", password: "correct horse battery" }) { accessToken refreshToken user { id } agency { id } } }"#;
    let login = vigie_tests::login_from(&vigie_tests::post_graphql(base, None, sign_up).await["data"]["signUp"]);
    let token = Some(login.access_token.as_str());
    let create = r#"mutation { createBrand(input: { name: "Docs", timeZone: "Europe/Paris" }) { id } }"#;
    let brand = vigie_tests::post_graphql(base, token, create).await;
    let brand = brand["data"]["createBrand"]["id"].as_str().expect("brand").to_owned();
    let create = format!(r#"mutation {{ createApiKey(input: {{ name: "docs", brandId: "{brand}" }}) {{ secret }} }}"#);
    let key = vigie_tests::post_graphql(base, token, &create).await;
    key["data"]["createApiKey"]["secret"].as_str().expect("API key").to_owned()
}

/// Runs a documented `curl` against the live api: its method, path and headers, with a
/// real API key (made on first use) in place of `vgk_…` and one valid mention as the
/// `@file` body.
async fn run_curl(base: &str, args: &[&str], key: &mut Option<String>, place: &str) {
    if key.is_none() {
        *key = Some(api_key(base).await);
    }
    let key = key.as_deref().unwrap();
    let unquote = |s: &str| s.trim_matches('"').to_owned();
    let (mut method, mut url, mut headers, mut body) = ("GET".to_owned(), None, Vec::new(), None);
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "-X" => {
                method = args[i + 1].to_owned();
                i += 1;
            }
            "-H" => {
                // A header's value runs over the words up to its closing quote.
                let mut header = args[i + 1].to_owned();
                while !header.ends_with('"') {
                    i += 1;
                    header = format!("{header} {}", args[i + 1]);
                }
                headers.push(unquote(&header));
                i += 1;
            }
            "--data-binary" => {
                body = Some(args[i + 1].to_owned());
                i += 1;
            }
            other if other.trim_matches('"').starts_with("http") => url = Some(unquote(other)),
            other => panic!("{place}: curl option {other} is not handled here"),
        }
        i += 1;
    }
    let url = url.unwrap_or_else(|| panic!("{place}: no URL"));
    let path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|at| rest[at..].to_owned())).unwrap();
    let mut request = reqwest::Client::new().request(method.parse().unwrap(), format!("{base}{path}"));
    for header in headers {
        let (name, value) = header.split_once(": ").unwrap_or_else(|| panic!("{place}: header {header}"));
        request = request.header(name, value.replace("vgk_…", key));
    }
    if let Some(body) = body {
        assert!(body.starts_with('@'), "{place}: a file body");
        let item = json!({
            "externalId": "docs-1", "network": "mastodon", "text": "Docs: the ingest example runs",
            "publishedAt": chrono::Utc::now().to_rfc3339(), "author": { "handle": "@docs" }
        });
        request = request.body(format!("{item}\n"));
    }
    let response = request.send().await.expect("curl example");
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or_default();
    assert!(status.is_success(), "{place}: {status} {answer}");
    assert_eq!(answer["accepted"], 1, "{place}: {answer}");
}
