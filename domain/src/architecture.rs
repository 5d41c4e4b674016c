//! The dependency rule of docs/architecture.md, checked on the sources: the platform
//! and the entities name no feature, features call each other without cycles, and the
//! binaries never forge a `System`.

use std::collections::{BTreeMap, BTreeSet};
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
    let mut above = features(&lib);
    above.extend(["admin", "demo", "nodes", "fuzzing"].map(String::from));
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

/// Only tests and benchmarks make a `System` by hand: the binaries' crates never do; and
/// only the admin command acts as the operator.
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
            let admin = file.ends_with("api/src/admin.rs");
            assert!(admin || !code.contains("Operator::"), "{} acts as the operator", file.display());
        }
    }
}

/// The feature modules: those `lib.rs` declares, but the platform, the entities, and
/// what sits on top of everything (the operator's commands, the demo, the node lookup,
/// test strategies).
fn features(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .filter(|m| !["platform", "entities", "admin", "demo", "nodes", "fuzzing"].contains(m))
        .map(str::to_owned)
        .collect()
}

/// Features reach each other through narrow functions or events, never in a circle:
/// the graph of which feature names which has no cycle.
#[test]
fn features_depend_on_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let features = features(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(features.len() >= 15, "{features:?}");
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for feature in &features {
        let mut files = Vec::new();
        let dir = src.join(feature);
        if dir.is_dir() {
            sources(&dir, &mut files);
        } else {
            files.push(src.join(format!("{feature}.rs")));
        }
        let named = uses.entry(feature.clone()).or_default();
        for file in files {
            let paths = crate_paths(&std::fs::read_to_string(&file).unwrap());
            named.extend(paths.into_iter().filter(|m| m != feature && features.contains(m)));
        }
    }
    // Depth-first search; a module met again while still on the path closes a cycle.
    fn visit<'a>(
        at: &'a str,
        uses: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == at) {
            return Some(path[start..].iter().chain([&at]).map(|m| m.to_string()).collect());
        }
        if !done.insert(at) {
            return None;
        }
        path.push(at);
        for next in &uses[at] {
            if let Some(cycle) = visit(next, uses, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for feature in uses.keys() {
        let cycle = visit(feature, &uses, &mut Vec::new(), &mut done);
        assert!(cycle.is_none(), "features in a circle: {}", cycle.unwrap().join(" → "));
    }
}
