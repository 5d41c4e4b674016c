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
//! and language detection is measured apart. `--thresholds` adds how the product's
//! sentiment thresholds (complaint, anger, stance) sort the posts. `--models DIR` adds a
//! row for the candidate models `DIR/{lang}.tsv` (as `sentiment-train --out DIR`
//! writes them), to compare them with the shipped ones before copying them in. The peers are installed on first use
//! under `target/sentiment-peers` (or `$VIGIE_PEERS_DIR`) with pip and npm.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vigie_bench::labelled::{CLASSES, Confusion, Post, class, class_of, read_all};
use vigie_bench::run;
use vigie_domain::mentions::NEUTRAL_BAND;
use vigie_domain::platform::text::Folded;
use vigie_domain::scoring::influence::STANCE;
use vigie_domain::scoring::sentiment::model::Model;
use vigie_domain::scoring::solicitation::{ANGRY, COMPLAINT};
use vigie_domain::scoring::{lang, sentiment};

/// Posts this short or shorter are counted apart for language detection.
const SHORT: usize = 60;

/// The score Vigie gives a post, with its model (or, for `rules`, the lexicon rules
/// alone, shown to tell what the learned part adds).
fn vigie(post: &Post, rules: bool) -> f64 {
    let folded = Folded::new(&post.text);
    if rules {
        sentiment::rules::score(Some(&post.lang), &post.text, &folded)
    } else {
        sentiment::score(Some(&post.lang), &post.text, &folded)
    }
}

/// How the product's sentiment thresholds sort these posts: for each, the share of the
/// posts beyond it that carry its side's label (precision) and the share of that
/// label's posts it catches (recall).
fn thresholds(posts: &[Post], indices: &[usize], scores: &[f64]) {
    let named: [(f64, &str); 4] = [
        (NEUTRAL_BAND, "neutral band: the classes"),
        (STANCE, "stance: advocate / detractor (on an author's mean)"),
        (-COMPLAINT, "complaint: an addressed mention becomes a ticket"),
        (-ANGRY, "anger: a mid-tier author's ticket is urgent"),
    ];
    println!("  threshold   neg precision / recall   pos precision / recall");
    for (t, name) in named {
        let side = |label: usize, beyond: &dyn Fn(f64) -> bool| {
            let picked: Vec<usize> = indices.iter().copied().filter(|&i| beyond(scores[i])).collect();
            let right = picked.iter().filter(|&&i| posts[i].label == label).count();
            let all = indices.iter().filter(|&&i| posts[i].label == label).count();
            (right as f64 / picked.len().max(1) as f64, right as f64 / all.max(1) as f64)
        };
        let (np, nr) = side(0, &|s| s <= -t);
        let (pp, pr) = side(2, &|s| s >= t);
        println!("  ±{t:<9.2} {np:>13.3} / {nr:<6.3} {pp:>15.3} / {pr:<6.3}  {name}");
    }
}

/// Classes given by the candidate models in `dir`, read as the shipped ones are.
fn candidate(posts: &[Post], dir: &Path) -> Result<Vec<usize>, String> {
    let mut models = BTreeMap::new();
    for post in posts {
        if !models.contains_key(post.lang.as_str()) {
            let path = dir.join(format!("{}.tsv", post.lang));
            let data = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let model = Model::parse(&data).map_err(|e| format!("{}: {e}", path.display()))?;
            models.insert(post.lang.as_str(), model);
        }
    }
    Ok(posts
        .iter()
        .map(|p| {
            let folded = Folded::new(&p.text);
            class_of(sentiment::from_probabilities(models[p.lang.as_str()].probabilities(
                Some(&p.lang),
                &p.text,
                &folded,
            )))
        })
        .collect())
}

fn peers_dir() -> PathBuf {
    std::env::var_os("VIGIE_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sentiment-peers"))
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
    let (mut peers, mut show_thresholds) = (false, false);
    let (mut paths, mut models) = (Vec::new(), None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--peers" => peers = true,
            "--models" => models = args.next().map(PathBuf::from),
            "--thresholds" => show_thresholds = true,
            "-h" | "--help" => {
                println!(
                    "usage: sentiment-eval [--peers] [--thresholds] [--models DIR] FILE…  (label<TAB>text or lang<TAB>label<TAB>text)"
                );
                return;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        eprintln!("usage: sentiment-eval [--peers] [--thresholds] [--models DIR] FILE…");
        std::process::exit(2);
    }
    let posts = read_all(&paths).unwrap_or_else(|e| {
        eprintln!("sentiment-eval: {e}");
        std::process::exit(2);
    });

    let scores: Vec<f64> = posts.iter().map(|p| vigie(p, false)).collect();
    let mut systems: Vec<(&str, Vec<usize>)> = vec![
        ("vigie", scores.iter().map(|s| class_of(*s)).collect()),
        ("rules", posts.iter().map(|p| class_of(vigie(p, true))).collect()),
    ];
    let candidates = models.map(|dir| ("candidate", candidate(&posts, &dir)));
    if peers || candidates.is_some() {
        let peers = peers.then(|| [("vader", vader(&posts)), ("nlp.js", nlpjs(&posts))]);
        for (name, labels) in candidates.into_iter().chain(peers.into_iter().flatten()) {
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
            "  {:<9} {:>9} {:>9}   confusion (rows: truth {classes}; columns: predicted)",
            "", "macro-F1", "accuracy"
        );
        for (name, labels) in &systems {
            let mut confusion = Confusion::default();
            for &i in indices {
                confusion.add(posts[i].label, labels[i]);
            }
            let rows: Vec<String> = confusion.0.iter().map(|r| format!("{:>4}{:>4}{:>4}", r[0], r[1], r[2])).collect();
            println!("  {name:<9} {:>9.3} {:>9.3}   {}", confusion.macro_f1(), confusion.accuracy(), rows.join(" |"));
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
        if show_thresholds {
            thresholds(&posts, indices, &scores);
        }
    }
}
