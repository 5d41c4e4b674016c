//! Sentiment and language detection measured on labelled posts that nobody here wrote
//! (the public sets described in `../shared/data/sentiment/SOURCES.md`, or any file in
//! the same shape), and, with `--peers`, the same posts read by VADER (PyPI
//! `vaderSentiment`) and nlp.js (npm `@nlpjs/sentiment`) in the same run.
//!
//! ```sh
//! cargo run --release -p vigie-bench --bin sentiment-eval -- ../shared/data/sentiment/umsab_*_val.tsv
//! cargo run --release -p vigie-bench --bin sentiment-eval -- --peers ../shared/data/sentiment/umsab_*_val.tsv
//! ```
//!
//! A file holds `label<TAB>text` lines (its language then comes from its name, as in
//! `umsab_fr_val.tsv`) or `lang<TAB>label<TAB>text` lines; labels are `neg`, `neu`,
//! `pos` (or `negative`, `neutral`, `positive`). Vigie's score is read as the product
//! reads it ([`SentimentClass::of`]); sentiment is scored in the post's known language,
//! and language detection is measured apart. The peers are installed on first use
//! under `target/sentiment-peers` (or `$VIGIE_PEERS_DIR`) with pip and npm.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vigie_domain::mentions::SentimentClass;
use vigie_domain::scoring::{lang, sentiment};
use vigie_domain::text::Folded;

const CLASSES: [&str; 3] = ["neg", "neu", "pos"];
/// Posts this short or shorter are counted apart for language detection.
const SHORT: usize = 60;

struct Post {
    lang: String,
    /// Index in [`CLASSES`].
    label: usize,
    text: String,
}

fn class(raw: &str) -> Option<usize> {
    match raw.trim().to_lowercase().as_str() {
        "neg" | "negative" | "-1" => Some(0),
        "neu" | "neutral" | "0" => Some(1),
        "pos" | "positive" | "1" => Some(2),
        _ => None,
    }
}

/// The language a file's name gives (`umsab_fr_val.tsv` → `fr`), for two-column files.
fn language_of(path: &Path) -> Option<String> {
    let name = path.file_stem()?.to_str()?.to_lowercase();
    name.split(['_', '-', '.'])
        .find(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_lowercase()))
        .map(str::to_owned)
}

fn read(path: &Path) -> Result<Vec<Post>, String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let named = language_of(path);
    let mut posts = Vec::new();
    for (n, line) in data.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        let bad = || format!("{}:{}: expected label<TAB>text or lang<TAB>label<TAB>text", path.display(), n + 1);
        let (lang, label, text) = match fields[..] {
            [lang, label, text] if class(label).is_some() => (lang.trim().to_lowercase(), label, text),
            [label, text] | [label, text, _] => {
                let text = if fields.len() == 3 { &line[label.len() + 1..] } else { text };
                let lang = named.clone().ok_or_else(|| {
                    format!(
                        "{}: name the file with its language (e.g. posts_fr.tsv) or add a lang column",
                        path.display()
                    )
                })?;
                (lang, label, text)
            }
            _ => return Err(bad()),
        };
        posts.push(Post { lang, label: class(label).ok_or_else(bad)?, text: text.to_owned() });
    }
    Ok(posts)
}

/// Rows: the truth; columns: the prediction.
#[derive(Default, Clone, Copy)]
struct Confusion([[usize; 3]; 3]);

impl Confusion {
    fn add(&mut self, truth: usize, predicted: usize) {
        self.0[truth][predicted] += 1;
    }

    fn total(&self) -> usize {
        self.0.iter().flatten().sum()
    }

    fn accuracy(&self) -> f64 {
        (0..3).map(|c| self.0[c][c]).sum::<usize>() as f64 / self.total().max(1) as f64
    }

    /// The mean over the three classes of F1 (a class never predicted nor present
    /// scores 0, as scikit-learn's `f1_score(average="macro")` does).
    fn macro_f1(&self) -> f64 {
        let f1 = |c: usize| {
            let tp = self.0[c][c] as f64;
            let predicted = (0..3).map(|t| self.0[t][c]).sum::<usize>() as f64;
            let actual = self.0[c].iter().sum::<usize>() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (predicted + actual) }
        };
        (0..3).map(f1).sum::<f64>() / 3.0
    }
}

fn vigie(post: &Post) -> usize {
    let folded = Folded::new(&post.text);
    let score = sentiment::score(Some(&post.lang), &post.text, &folded);
    match SentimentClass::of(score) {
        SentimentClass::Negative => 0,
        SentimentClass::Neutral => 1,
        SentimentClass::Positive => 2,
    }
}

fn peers_dir() -> PathBuf {
    std::env::var_os("VIGIE_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sentiment-peers"))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) }
}

/// Runs a peer over the posts: one `lang<TAB>text` line each on stdin, one label each
/// on stdout.
fn labels_from(mut command: Command, posts: &[Post], what: &str) -> Result<Vec<usize>, String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    let input: String = posts.iter().map(|p| format!("{}\t{}\n", p.lang, p.text.replace(['\n', '\r'], " "))).collect();
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().map_err(|e| format!("{what}: {e}"))?;
    writer.join().expect("the writer thread").map_err(|e| format!("{what}: {e}"))?;
    if !output.status.success() {
        return Err(format!("{what} failed ({})", output.status));
    }
    let labels: Vec<usize> = String::from_utf8_lossy(&output.stdout).lines().filter_map(class).collect();
    if labels.len() != posts.len() {
        return Err(format!("{what} answered {} labels for {} posts", labels.len(), posts.len()));
    }
    Ok(labels)
}

fn vader(posts: &[Post]) -> Result<Vec<usize>, String> {
    let dir = peers_dir();
    let site = dir.join("py");
    let installed = Command::new("python3")
        .args(["-c", "import sys; sys.path.insert(0, sys.argv[1]); import vaderSentiment"])
        .arg(&site)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("installing vaderSentiment 3.3.2 into {}", site.display());
        run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--root-user-action=ignore",
                    "--target",
                ])
                .arg(&site)
                .arg("vaderSentiment==3.3.2"),
            "pip install vaderSentiment",
        )?;
    }
    let script = dir.join("vader.py");
    std::fs::write(&script, include_str!("../peers/vader.py")).map_err(|e| e.to_string())?;
    let mut command = Command::new("python3");
    command.arg(&script).arg(&site);
    labels_from(command, posts, "VADER")
}

fn nlpjs(posts: &[Post]) -> Result<Vec<usize>, String> {
    let dir = peers_dir().join("node");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if !dir.join("node_modules/@nlpjs/sentiment").exists() {
        eprintln!("installing nlp.js 4.26.1 into {}", dir.display());
        run(
            Command::new("npm").args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).args([
                "@nlpjs/core@4.26.1",
                "@nlpjs/sentiment@4.26.1",
                "@nlpjs/lang-fr@4.26.1",
                "@nlpjs/lang-en@4.26.1",
            ]),
            "npm install @nlpjs/sentiment",
        )?;
    }
    let script = dir.join("nlpjs.js");
    std::fs::write(&script, include_str!("../peers/nlpjs.js")).map_err(|e| e.to_string())?;
    let mut command = Command::new("node");
    command.arg(&script);
    labels_from(command, posts, "nlp.js")
}

fn main() {
    let mut peers = false;
    let mut paths = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--peers" => peers = true,
            "-h" | "--help" => {
                println!("usage: sentiment-eval [--peers] FILE…  (label<TAB>text or lang<TAB>label<TAB>text)");
                return;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        eprintln!("usage: sentiment-eval [--peers] FILE…");
        std::process::exit(2);
    }
    let mut posts = Vec::new();
    for path in &paths {
        match read(path) {
            Ok(read) => posts.extend(read),
            Err(e) => {
                eprintln!("sentiment-eval: {e}");
                std::process::exit(2);
            }
        }
    }

    let mut systems: Vec<(&str, Vec<usize>)> = vec![("vigie", posts.iter().map(vigie).collect())];
    if peers {
        for (name, labels) in [("vader", vader(&posts)), ("nlp.js", nlpjs(&posts))] {
            match labels {
                Ok(labels) => systems.push((name, labels)),
                Err(e) => {
                    eprintln!("sentiment-eval: {e}");
                    std::process::exit(1);
                }
            }
        }
    }

    let languages: BTreeMap<&str, Vec<usize>> = posts.iter().enumerate().fold(BTreeMap::new(), |mut by, (i, p)| {
        by.entry(p.lang.as_str()).or_insert_with(Vec::new).push(i);
        by
    });
    for (language, indices) in &languages {
        println!("\n{language}: {} posts", indices.len());
        let classes = CLASSES.join("/");
        println!(
            "  {:<8} {:>9} {:>9}   confusion (rows: truth {classes}; columns: predicted)",
            "", "macro-F1", "accuracy"
        );
        for (name, labels) in &systems {
            let mut confusion = Confusion::default();
            for &i in indices {
                confusion.add(posts[i].label, labels[i]);
            }
            let rows: Vec<String> = confusion.0.iter().map(|r| format!("{:>4}{:>4}{:>4}", r[0], r[1], r[2])).collect();
            println!("  {name:<8} {:>9.3} {:>9.3}   {}", confusion.macro_f1(), confusion.accuracy(), rows.join(" |"));
        }
        let (mut right, mut short, mut short_right) = (0, 0, 0);
        for &i in indices {
            let post = &posts[i];
            let folded = Folded::new(&post.text);
            let ok = lang::detect(&post.text, &folded.words) == Some(post.lang.as_str());
            right += usize::from(ok);
            if post.text.chars().count() <= SHORT {
                short += 1;
                short_right += usize::from(ok);
            }
        }
        let percent = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
        println!(
            "  language detected: {:.1} % ({right}/{}); posts of at most {SHORT} characters: {:.1} % ({short_right}/{short})",
            percent(right, indices.len()),
            indices.len(),
            percent(short_right, short)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_matches_scikit_learn() {
        // sklearn.metrics.f1_score([0,0,1,1,2,2], [0,1,1,1,2,0], average="macro") = 0.6555…
        let mut confusion = Confusion::default();
        for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 2), (2, 0)] {
            confusion.add(truth, predicted);
        }
        assert!((confusion.macro_f1() - 0.655_555).abs() < 1e-5, "{}", confusion.macro_f1());
        assert!((confusion.accuracy() - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(Confusion::default().macro_f1(), 0.0);
    }

    #[test]
    fn reads_both_shapes() {
        assert_eq!(language_of(Path::new("../x/umsab_fr_val.tsv")).as_deref(), Some("fr"));
        assert_eq!(language_of(Path::new("posts.tsv")), None);
        let dir = std::env::temp_dir().join(format!("vigie-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let two = dir.join("set_en.tsv");
        std::fs::write(&two, "# comment\npos\tgreat\tstuff\nnegative\tawful\n").unwrap();
        let read2 = read(&two).unwrap();
        assert_eq!(read2.len(), 2);
        assert_eq!((read2[0].lang.as_str(), read2[0].label, read2[0].text.as_str()), ("en", 2, "great\tstuff"));
        let three = dir.join("mixed.tsv");
        std::fs::write(&three, "fr\tneu\tbonjour\nen\tneg\tbad\n").unwrap();
        let read3 = read(&three).unwrap();
        assert_eq!((read3[0].lang.as_str(), read3[0].label), ("fr", 1));
        std::fs::write(&three, "maybe\tbonjour\n").unwrap();
        assert!(read(&three).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
