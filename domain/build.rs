//! Lists the message catalogues (`locales/<code>.txt`) and the templates (`templates/`)
//! so that the binary embeds them: adding a language or a template is adding a file.

use std::fmt::Write;
use std::path::{Path, PathBuf};

fn files(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if path.is_dir() {
            files(&path, &format!("{name}/"), out);
        } else {
            out.push((name, path));
        }
    }
}

fn list(name: &str, dir: &str, keep: impl Fn(&str) -> Option<String>) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    println!("cargo::rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    files(&root, "", &mut found);
    found.sort();
    let mut code = format!("pub(crate) const {name}: &[(&str, &str)] = &[\n");
    for (file, path) in found {
        if let Some(key) = keep(&file) {
            let _ = writeln!(code, "    ({key:?}, include_str!({:?})),", path.display().to_string());
        }
    }
    code.push_str("];\n");
    code
}

fn main() {
    let catalogues = list("CATALOGUES", "locales", |file| {
        file.strip_suffix(".txt").filter(|code| !code.starts_with('.') && !code.contains('/')).map(str::to_owned)
    });
    // Editors' backups and dotfiles are not templates.
    let templates = list("TEMPLATES", "templates", |file| {
        let kept = [".html", ".txt", ".css"].iter().any(|ext| file.ends_with(ext));
        (kept && !file.rsplit('/').next().unwrap_or(file).starts_with('.')).then(|| file.to_owned())
    });
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("embedded.rs"), catalogues + &templates).expect("write embedded.rs");
}
