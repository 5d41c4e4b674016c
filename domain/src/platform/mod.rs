//! What every feature stands on and that knows no feature: configuration, errors, the
//! database and its keyset pages, the job queue and its runtime, the bus, rate limits,
//! outbound HTTP, the mail outbox, the event outbox, identity and access (`auth`),
//! audit, text folding, translations, input rules and retention. Nothing here names a
//! feature module (a test in `lib.rs` holds it so); features reach each other through
//! events or narrow functions, and `lib.rs` wires them to the platform.

pub mod audit;
pub mod auth;
pub mod bus;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod i18n;
pub mod jobs;
pub mod mail;
pub mod network;
pub mod outbound;
pub mod pagination;
pub mod persisted_queries;
pub mod queue;
pub mod ratelimit;
pub mod redis_client;
pub mod retention;
pub mod runtime;
pub mod text;
pub mod validate;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The first segment of every `crate::` path in `code` (comments left out), each
    /// item of a `crate::{…}` group included.
    fn crate_paths(code: &str) -> BTreeSet<String> {
        let code: String = code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        let mut found = BTreeSet::new();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let (mut depth, mut item, mut items) = (0, String::new(), Vec::new());
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => items.push(std::mem::take(&mut item)),
                        _ if depth == 0 => item.push(c),
                        _ => {}
                    }
                }
                items.push(item);
                for item in items {
                    let head: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    found.insert(head);
                }
            } else {
                found.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
            }
        }
        found.retain(|s| !s.is_empty());
        found
    }

    /// The dependency rule of docs/architecture.md: the platform and the entities name no
    /// feature (nor the demo or the api-facing node lookup), so features sit on them and
    /// never the other way round.
    #[test]
    fn the_platform_names_no_feature() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        let above: BTreeSet<String> = lib
            .lines()
            .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
            .filter(|m| !["platform", "entities"].contains(m))
            .map(str::to_owned)
            .collect();
        assert!(above.contains("brands") && above.contains("demo"), "{above:?}");
        let mut files = Vec::new();
        sources(&src.join("platform"), &mut files);
        sources(&src.join("entities"), &mut files);
        assert!(files.len() > 60, "{} files", files.len());
        let mut wrong = Vec::new();
        for file in files {
            let names = crate_paths(&std::fs::read_to_string(&file).unwrap());
            wrong.extend(names.intersection(&above).map(|m| format!("{} names {m}", file.display())));
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
        assert_eq!(
            crate_paths("use crate::{a, b::{c, d}, e}; crate::f::g; // crate::h"),
            ["a", "b", "e", "f"].map(String::from).into()
        );
    }

    /// Only tests and benchmarks make a `System` by hand: the binaries' crates never do.
    #[test]
    fn the_binaries_never_forge_the_system() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for krate in ["api", "worker"] {
            let mut files = Vec::new();
            sources(&root.join(krate).join("src"), &mut files);
            assert!(!files.is_empty(), "{krate}");
            for file in files {
                let code = std::fs::read_to_string(&file).unwrap();
                assert!(!code.contains("for_tests"), "{} calls System::for_tests", file.display());
            }
        }
    }
}
