//! Trains the sentiment models that Vigie ships (`domain/data/sentiment/{lang}.tsv`)
//! from labelled posts in the shapes `sentiment-eval` reads, one model per language
//! found in them. The features are the domain's own
//! ([`vigie_domain::scoring::sentiment::model`]); the model is a three-class logistic
//! regression with an L2 penalty, fitted by full-batch gradient descent (Adam) from
//! zero, so the same files give the same model.
//!
//! ```sh
//! cargo run --release -p vigie-bench --bin sentiment-train -- ../shared/data/sentiment/umsab_*_train.tsv
//! ```
//!
//! Options: `--out DIR` (default `domain/data/sentiment`), `--c C` (inverse penalty,
//! as scikit-learn's, default 1), `--min-df N` (grams seen in fewer posts are dropped,
//! default 2), `--prune W` (grams whose weights all stay under W are left out and the
//! model fitted again without them, default 0.02), `--iterations N` (default 400). `--folds K` writes nothing and
//! prints the macro-F1 of K-fold cross-validation instead: settings are chosen so, on
//! the training posts, never on the posts the model is reported on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vigie_bench::labelled::{CLASSES, Confusion, Post, class_of, read};
use vigie_domain::scoring::sentiment;
use vigie_domain::scoring::sentiment::model::{self, Group, LEXICON_FEATURES, Model};
use vigie_domain::text::Folded;

struct Settings {
    c: f64,
    min_df: usize,
    prune: f64,
    iterations: usize,
}

/// A post as features: the gram columns with their values, then the lexicon features.
struct Row {
    grams: Vec<(u32, f64)>,
    lexicon: [f64; 3],
    label: usize,
}

/// One language's training set, as columns and rows.
struct Set {
    /// Column → `kind:gram`, sorted.
    names: Vec<String>,
    idf: Vec<f64>,
    rows: Vec<Row>,
}

fn grams_of(post: &Post) -> Vec<(Group, String)> {
    let folded = Folded::new(&post.text);
    let mut grams = Vec::new();
    model::for_each_gram(&model::normalise(&folded.text), |group, pieces| {
        grams.push((group, std::iter::once(group.prefix()).chain(pieces.iter().copied()).collect()));
    });
    grams
}

/// The training set: grams seen in at least `min_df` posts and, when given, in `keep`.
fn build(posts: &[&Post], min_df: usize, keep: Option<&HashSet<String>>) -> Set {
    let grams: Vec<Vec<(Group, String)>> = posts.iter().map(|p| grams_of(p)).collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for doc in &grams {
        let unique: HashSet<&str> = doc.iter().map(|(_, g)| g.as_str()).collect();
        unique.into_iter().for_each(|g| *df.entry(g).or_default() += 1);
    }
    let mut names: Vec<String> = df
        .iter()
        .filter(|(g, n)| **n >= min_df && keep.is_none_or(|keep| keep.contains(**g)))
        .map(|(g, _)| (*g).to_owned())
        .collect();
    names.sort();
    let column: HashMap<&str, u32> = names.iter().enumerate().map(|(i, g)| (g.as_str(), i as u32)).collect();
    let n = posts.len() as f64;
    // scikit-learn's smoothed idf.
    let idf: Vec<f64> = names.iter().map(|g| ((1.0 + n) / (1.0 + df[g.as_str()] as f64)).ln() + 1.0).collect();
    let rows = posts
        .iter()
        .zip(&grams)
        .map(|(post, doc)| {
            let (mut words, mut chars) = (Vec::new(), Vec::new());
            for (group, gram) in doc {
                if let Some(&c) = column.get(gram.as_str()) {
                    match group {
                        Group::Word => words.push(c),
                        Group::Char => chars.push(c),
                    }
                }
            }
            let idf_of = |c: u32| idf[c as usize];
            let mut grams = model::tf_idf(&mut words, idf_of);
            grams.extend(model::tf_idf(&mut chars, idf_of));
            let folded = Folded::new(&post.text);
            let lexicon = model::lexicon_features(Some(&post.lang), &post.text, &folded);
            Row { grams, lexicon, label: post.label }
        })
        .collect();
    Set { names, idf, rows }
}

/// The fitted weights: one `[neg, neu, pos]` per column, per lexicon feature, and the
/// bias.
struct Fit {
    grams: Vec<[f64; 3]>,
    lexicon: [[f64; 3]; 3],
    bias: [f64; 3],
}

/// Minimises the summed cross-entropy plus `‖w‖² / 2C` (the bias is not penalised).
fn fit(set: &Set, settings: &Settings) -> Fit {
    let columns = set.names.len();
    // Parameters: the gram columns, then the lexicon features, then the bias.
    let size = (columns + 3 + 1) * 3;
    let mut w = vec![0.0f64; size];
    let (mut m, mut v) = (vec![0.0f64; size], vec![0.0f64; size]);
    let (beta1, beta2, rate) = (0.9, 0.999, 0.05);
    let bias = columns + 3;
    for step in 1..=settings.iterations {
        let mut grad: Vec<f64> = w.iter().map(|x| x / settings.c).collect();
        grad[bias * 3..].iter_mut().for_each(|g| *g = 0.0);
        let mut loss = w[..bias * 3].iter().map(|x| x * x).sum::<f64>() / (2.0 * settings.c);
        for row in &set.rows {
            let mut logits = [0.0; 3];
            let features = row.grams.iter().copied().chain((0..3).map(|j| ((columns + j) as u32, row.lexicon[j])));
            let features: Vec<(u32, f64)> = features.chain(std::iter::once((bias as u32, 1.0))).collect();
            for &(c, x) in &features {
                (0..3).for_each(|k| logits[k] += w[c as usize * 3 + k] * x);
            }
            let p = model::softmax(logits);
            loss -= p[row.label].max(1e-300).ln();
            for &(c, x) in &features {
                for k in 0..3 {
                    let target = if k == row.label { 1.0 } else { 0.0 };
                    grad[c as usize * 3 + k] += (p[k] - target) * x;
                }
            }
        }
        for i in 0..size {
            m[i] = beta1 * m[i] + (1.0 - beta1) * grad[i];
            v[i] = beta2 * v[i] + (1.0 - beta2) * grad[i] * grad[i];
            let m_hat = m[i] / (1.0 - beta1.powi(step as i32));
            let v_hat = v[i] / (1.0 - beta2.powi(step as i32));
            w[i] -= rate * m_hat / (v_hat.sqrt() + 1e-8);
        }
        if step % 100 == 0 || step == settings.iterations {
            eprintln!("  step {step}: loss {:.2}", loss / set.rows.len() as f64);
        }
    }
    let triple = |c: usize| [w[c * 3], w[c * 3 + 1], w[c * 3 + 2]];
    Fit {
        grams: (0..columns).map(triple).collect(),
        lexicon: [triple(columns), triple(columns + 1), triple(columns + 2)],
        bias: triple(bias),
    }
}

/// Weights less their mean, which leaves the probabilities as they are.
fn centred(w: [f64; 3]) -> [f64; 3] {
    let mean = w.iter().sum::<f64>() / 3.0;
    w.map(|x| x - mean)
}

/// Fits, leaves out the grams whose weights all stay under the pruning threshold, and
/// fits again without them: the rows are then normalised over the grams the file
/// keeps, as the scorer normalises them.
fn train(posts: &[&Post], settings: &Settings) -> (Set, Fit) {
    let set = build(posts, settings.min_df, None);
    let first = fit(&set, settings);
    let keep: HashSet<String> = set
        .names
        .iter()
        .zip(&first.grams)
        .filter(|(_, w)| centred(**w).iter().any(|x| x.abs() >= settings.prune))
        .map(|(name, _)| name.clone())
        .collect();
    let set = build(posts, settings.min_df, Some(&keep));
    let fit = fit(&set, settings);
    (set, fit)
}

/// The model file.
fn render(lang: &str, sources: &[String], set: &Set, fit: &Fit, settings: &Settings) -> String {
    let mut counts = [0usize; 3];
    set.rows.iter().for_each(|r| counts[r.label] += 1);
    let mut out = String::new();
    let line = |out: &mut String, name: &str, idf: f64, w: [f64; 3]| {
        let w = centred(w);
        let _ = writeln!(out, "{name}\t{idf:.4}\t{:.4}\t{:.4}\t{:.4}", w[0], w[1], w[2]);
    };
    let _ = writeln!(out, "# Vigie sentiment model ({lang}); see README.md here for what it is and its licence.");
    let _ = writeln!(
        out,
        "# Trained by `cargo run --release -p vigie-bench --bin sentiment-train` on {} ({} posts: {} neg, {} neu, {} pos),",
        sources.join(", "),
        set.rows.len(),
        counts[0],
        counts[1],
        counts[2]
    );
    let _ = writeln!(
        out,
        "# with C = {}, min_df = {}, prune = {}, {} iterations. kind:gram<TAB>idf<TAB>neg<TAB>neu<TAB>pos",
        settings.c, settings.min_df, settings.prune, settings.iterations
    );
    line(&mut out, "b:", 0.0, fit.bias);
    for (name, w) in LEXICON_FEATURES.iter().zip(fit.lexicon) {
        line(&mut out, &format!("d:{name}"), 0.0, w);
    }
    for ((name, idf), w) in set.names.iter().zip(&set.idf).zip(&fit.grams) {
        line(&mut out, name, *idf, *w);
    }
    out
}

/// Macro-F1 over `folds` folds of the posts (every `folds`-th post held out in turn),
/// each fold scored by the model file the others train, read back as Vigie reads it.
fn cross_validate(lang: &str, posts: &[&Post], settings: &Settings, folds: usize) -> Confusion {
    let mut confusion = Confusion::default();
    for fold in 0..folds {
        let in_fold = |i: &usize| i % folds == fold;
        let held = posts.iter().enumerate().filter(|(i, _)| in_fold(i)).map(|(_, p)| *p);
        let rest: Vec<&Post> = posts.iter().enumerate().filter(|(i, _)| !in_fold(i)).map(|(_, p)| *p).collect();
        let (set, fit) = train(&rest, settings);
        let file = render(lang, &[], &set, &fit, settings);
        let model = Model::parse(&file).unwrap_or_else(|e| fail(&e));
        for post in held {
            let folded = Folded::new(&post.text);
            let score = sentiment::from_probabilities(model.probabilities(Some(lang), &post.text, &folded));
            confusion.add(post.label, class_of(score));
        }
    }
    confusion
}

fn fail(message: &str) -> ! {
    eprintln!("sentiment-train: {message}");
    std::process::exit(2);
}

fn main() {
    let mut settings = Settings { c: 1.0, min_df: 2, prune: 0.02, iterations: 400 };
    let mut folds = 0;
    let mut out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../domain/data/sentiment");
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| fail(&format!("{name} needs a value")));
        let number = |name: &str, v: String| v.parse::<f64>().unwrap_or_else(|_| fail(&format!("{name}: {v}?")));
        match arg.as_str() {
            "--out" => out = PathBuf::from(value("--out")),
            "--c" => settings.c = number("--c", value("--c")),
            "--min-df" => settings.min_df = number("--min-df", value("--min-df")) as usize,
            "--prune" => settings.prune = number("--prune", value("--prune")),
            "--iterations" => settings.iterations = number("--iterations", value("--iterations")) as usize,
            "--folds" => folds = number("--folds", value("--folds")) as usize,
            "-h" | "--help" => {
                println!(
                    "usage: sentiment-train [--folds K] [--out DIR] [--c C] [--min-df N] [--prune W] [--iterations N] FILE…"
                );
                return;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        fail("usage: sentiment-train [--folds K] [--out DIR] [--c C] [--min-df N] [--prune W] [--iterations N] FILE…");
    }
    let mut posts = Vec::new();
    // The files each language's posts come from, for the model's header.
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for path in &paths {
        let read = read(path).unwrap_or_else(|e| fail(&e));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for lang in read.iter().map(|p| p.lang.clone()).collect::<HashSet<_>>() {
            sources.entry(lang).or_default().push(name.clone());
        }
        posts.extend(read);
    }
    let mut by_lang: BTreeMap<&str, Vec<&Post>> = BTreeMap::new();
    posts.iter().for_each(|p| by_lang.entry(p.lang.as_str()).or_default().push(p));
    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    for (lang, posts) in by_lang {
        eprintln!("{lang}: {} posts ({})", posts.len(), CLASSES.join("/"));
        if folds > 1 {
            let confusion = cross_validate(lang, &posts, &settings, folds);
            println!("{lang}: {folds}-fold macro-F1 {:.3}, accuracy {:.3}", confusion.macro_f1(), confusion.accuracy());
            continue;
        }
        let (set, fit) = train(&posts, &settings);
        let path = out.join(format!("{lang}.tsv"));
        std::fs::write(&path, render(lang, &sources[lang], &set, &fit, &settings))
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        eprintln!("  {} grams kept, written to {}", set.names.len(), path.display());
    }
}
