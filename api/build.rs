//! Fetches GraphiQL's assets from the npm registry at build time, so that the binary
//! serves them itself (no CDN, a strict content-security policy). Third-party bundles
//! are never copied into the repository: each package is pinned by version and by the
//! registry's integrity hash. Without npm, or without the registry, the build goes on
//! and the api serves a GraphiQL page that loads from a CDN, saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A package: `name@version`, the registry's integrity, and `(file in the package, name
/// served)` of the files taken.
type Package = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

const PACKAGES: [Package; 3] = [
    (
        "graphiql@3.9.0",
        "sha512-rJYFlHdBbug9+YbFSwRVvgfPjCayC7wHecZkx/qB4XLuQPFQZw/yB9pmHFtOJV6RiNBBHro3u1GdocKa3YcGRA==",
        &[("package/graphiql.min.js", "graphiql.min.js"), ("package/graphiql.min.css", "graphiql.min.css")],
    ),
    (
        "react@18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        &[("package/umd/react.production.min.js", "react.production.min.js")],
    ),
    (
        "react-dom@18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        &[("package/umd/react-dom.production.min.js", "react-dom.production.min.js")],
    ),
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=VIGIE_GRAPHIQL_CDN");
    println!("cargo::rustc-check-cfg=cfg(graphiql_assets)");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("graphiql");
    if std::env::var_os("VIGIE_GRAPHIQL_CDN").is_some() {
        println!("cargo::warning=VIGIE_GRAPHIQL_CDN is set: GraphiQL will load its code from a CDN");
        return;
    }
    match fetch(&out) {
        Ok(()) => println!("cargo::rustc-cfg=graphiql_assets"),
        Err(why) => {
            println!(
                "cargo::warning=GraphiQL will load its code from a CDN ({why}); install Node.js and npm, reach the npm registry, and rebuild for the offline page"
            );
            // A missing file counts as changed: the next build tries again.
            println!("cargo::rerun-if-changed={}", out.join("graphiql.min.js").display());
        }
    }
}

fn fetch(out: &Path) -> Result<(), String> {
    let served: Vec<PathBuf> =
        PACKAGES.iter().flat_map(|(_, _, files)| files.iter().map(|(_, name)| out.join(name))).collect();
    if served.iter().all(|path| path.is_file()) {
        return Ok(());
    }
    let packs = out.join("packs");
    std::fs::create_dir_all(&packs).map_err(|e| format!("{}: {e}", packs.display()))?;
    let specs: Vec<&str> = PACKAGES.iter().map(|(spec, _, _)| *spec).collect();
    let packed = Command::new("npm")
        .args(["pack", "--json", "--silent", "--fetch-timeout=15000", "--fetch-retries=1", "--pack-destination"])
        .arg(&packs)
        .args(&specs)
        .output()
        .map_err(|e| format!("npm: {e}"))?;
    if !packed.status.success() {
        let stderr = String::from_utf8_lossy(&packed.stderr);
        return Err(format!("npm pack failed: {}", stderr.lines().next().unwrap_or_default()));
    }
    let report = String::from_utf8_lossy(&packed.stdout);
    for (spec, integrity, files) in PACKAGES {
        // npm checks each tarball against the registry's integrity; this checks the
        // registry still serves the bytes pinned here.
        if !report.contains(&format!("\"integrity\": \"{integrity}\"")) {
            return Err(format!("{spec} does not have its pinned integrity"));
        }
        let (name, version) = spec.rsplit_once('@').expect("name@version");
        let tarball = packs.join(format!("{name}-{version}.tgz"));
        let members: Vec<&str> = files.iter().map(|(member, _)| *member).collect();
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&packs)
            .args(&members)
            .status()
            .map_err(|e| format!("tar: {e}"))?;
        if !status.success() {
            return Err(format!("could not unpack {}", tarball.display()));
        }
        for (member, served) in files {
            std::fs::rename(packs.join(member), out.join(served)).map_err(|e| format!("{member}: {e}"))?;
        }
    }
    Ok(())
}
