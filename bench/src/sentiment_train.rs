//! Trains the sentiment models that Vigie ships (`domain/data/sentiment/{lang}.tsv`)
//! from labelled posts in the shapes `sentiment-eval` reads, one model per language
//! found in them. The features are the domain's own
//! ([`vigie_domain::scoring::sentiment::model`]); the model is a three-class logistic
//! regression with an L2 penalty, fitted by full-batch gradient descent (Adam) from
//! zero, so the same files give the same model.
//!
//! ```sh
//! cargo run --release -p vigie-bench --bin sentiment-train -- ../shared/data/sentiment/umsab_en_train.tsv
//! cargo run --release -p vigie-bench --bin sentiment-train -- --stack 0 ../shared/data/sentiment/umsab_fr_train.tsv
//! ```
//!
//! Options: `--out DIR` (default `domain/data/sentiment`), `--c C` (inverse penalty,
//! as scikit-learn's, default 1), `--min-df N` (grams seen in fewer posts are dropped,
//! default 2), `--prune W` (grams whose weights all stay under W are left out and the
//! model fitted again without them, default 0.02), `--iterations N` (default 400),
//! `--stack K` (folds that give the stacked layer its inputs, default 5; under 2, none),
//! `--stack-c C` (the stacked layer's inverse penalty, default 1). `--folds K` writes
//! nothing and prints the macro-F1 of K-fold cross-validation instead: settings are
//! chosen so, on the training posts, never on the posts the model is reported on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vigie_bench::labelled::{CLASSES, Confusion, Post, class_of, read};
use vigie_domain::platform::text::Folded;
use vigie_domain::scoring::sentiment;
use vigie_domain::scoring::sentiment::model::{self, Group, LEXICON_FEATURES, Model, STACK_FEATURES};

const USAGE: &str = "usage: sentiment-train [--folds K] [--out DIR] [--c C] [--min-df N] [--prune W] [--iterations N] [--stack K] [--stack-c C] FILE…";

struct Settings {
    c: f64,
    min_df: usize,
    prune: f64,
    iterations: usize,
    /// Folds that give the stacked layer its inputs; under 2, no stacked layer.
    stack_folds: usize,
    stack_c: f64,
}

/// A post as sparse features (for the base model, the gram columns then the lexicon
/// features from column `names.len()`; for the stacked layer, its inputs).
struct Row {
    features: Vec<(u32, f64)>,
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
            let mut features = model::tf_idf(&mut words, idf_of);
            features.extend(model::tf_idf(&mut chars, idf_of));
            let folded = Folded::new(&post.text);
            let lexicon = model::lexicon_features(Some(&post.lang), &post.text, &folded);
            features.extend((0..3).map(|j| ((names.len() + j) as u32, lexicon[j])));
            Row { features, label: post.label }
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

/// The stacked layer's weights over [`model::STACK_FEATURES`], and its bias.
struct StackFit {
    weights: Vec<[f64; 3]>,
    bias: [f64; 3],
}

/// A three-class logistic regression over `columns` columns: minimises the summed
/// cross-entropy plus `‖w‖² / 2C` (the bias is not penalised). Returns one weight triple
/// per column, then the bias.
fn regress(rows: &[Row], columns: usize, c: f64, iterations: usize) -> Vec<[f64; 3]> {
    // Parameters: the columns, then the bias.
    let size = (columns + 1) * 3;
    let mut w = vec![0.0f64; size];
    let (mut m, mut v) = (vec![0.0f64; size], vec![0.0f64; size]);
    let (beta1, beta2, rate) = (0.9, 0.999, 0.05);
    let bias = columns;
    for step in 1..=iterations {
        let mut grad: Vec<f64> = w.iter().map(|x| x / c).collect();
        grad[bias * 3..].iter_mut().for_each(|g| *g = 0.0);
        let mut loss = w[..bias * 3].iter().map(|x| x * x).sum::<f64>() / (2.0 * c);
        for row in rows {
            let mut logits = [0.0; 3];
            let features = row.features.iter().copied().chain(std::iter::once((bias as u32, 1.0)));
            let features: Vec<(u32, f64)> = features.collect();
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
        if step % 100 == 0 || step == iterations {
            eprintln!("  step {step}: loss {:.2}", loss / rows.len() as f64);
        }
    }
    w.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect()
}

fn fit(set: &Set, settings: &Settings) -> Fit {
    let columns = set.names.len();
    let w = regress(&set.rows, columns + 3, settings.c, settings.iterations);
    Fit { grams: w[..columns].to_vec(), lexicon: [w[columns], w[columns + 1], w[columns + 2]], bias: w[columns + 3] }
}

/// Weights less their mean, which leaves the probabilities as they are.
fn centred(w: [f64; 3]) -> [f64; 3] {
    let mean = w.iter().sum::<f64>() / 3.0;
    w.map(|x| x - mean)
}

/// Fits, leaves out the grams whose weights all stay under the pruning threshold, and
/// fits again without them: the rows are then normalised over the grams the file
/// keeps, as the scorer normalises them.
fn train_base(posts: &[&Post], settings: &Settings) -> (Set, Fit) {
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

/// A trained model: the base regression and, with `--stack K`, the stacked layer,
/// fitted on base probabilities that each post gets from a base model trained without
/// its fold (so that the layer learns how far to trust the grams on posts they have not
/// seen).
struct Trained {
    set: Set,
    fit: Fit,
    stack: Option<StackFit>,
}

fn train(lang: &str, posts: &[&Post], settings: &Settings) -> Trained {
    let (set, fit) = train_base(posts, settings);
    let stack = (settings.stack_folds > 1).then(|| {
        let mut base = vec![[0.0; 3]; posts.len()];
        each_fold(posts, settings.stack_folds, |rest, held| {
            let (set, fit) = train_base(rest, settings);
            let model = parse(&render(lang, &[], &Trained { set, fit, stack: None }, settings));
            for i in held {
                let post = posts[i];
                base[i] = model.base_probabilities(Some(lang), &post.text, &Folded::new(&post.text));
            }
        });
        let inputs: Vec<[f64; STACK_FEATURES.len()]> = posts
            .iter()
            .zip(&base)
            .map(|(post, base)| {
                let folded = Folded::new(&post.text);
                model::stack_features(*base, model::sentence_features(Some(lang), &post.text, &folded))
            })
            .collect();
        fit_stack(&inputs, posts, settings)
    });
    Trained { set, fit, stack }
}

/// The stacked layer, fitted on standardised inputs; the scaling is folded back into
/// the weights, so the scorer reads raw inputs.
fn fit_stack(inputs: &[[f64; STACK_FEATURES.len()]], posts: &[&Post], settings: &Settings) -> StackFit {
    let n = inputs.len() as f64;
    let mean: Vec<f64> = (0..STACK_FEATURES.len()).map(|j| inputs.iter().map(|x| x[j]).sum::<f64>() / n).collect();
    let sd: Vec<f64> = (0..STACK_FEATURES.len())
        .map(|j| (inputs.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt())
        // A constant input keeps rounding noise for a deviation: leave it out.
        .map(|sd| if sd > 1e-9 { sd } else { 0.0 })
        .collect();
    let rows: Vec<Row> = inputs
        .iter()
        .zip(posts)
        .map(|(x, post)| Row {
            features: (0..x.len()).filter(|&j| sd[j] > 0.0).map(|j| (j as u32, (x[j] - mean[j]) / sd[j])).collect(),
            label: post.label,
        })
        .collect();
    let w = regress(&rows, STACK_FEATURES.len(), settings.stack_c, settings.iterations);
    let weights: Vec<[f64; 3]> =
        (0..STACK_FEATURES.len()).map(|j| if sd[j] > 0.0 { w[j].map(|x| x / sd[j]) } else { [0.0; 3] }).collect();
    let mut bias = w[STACK_FEATURES.len()];
    for (j, wj) in weights.iter().enumerate() {
        (0..3).for_each(|k| bias[k] -= wj[k] * mean[j]);
    }
    StackFit { weights, bias }
}

/// The model file.
fn render(lang: &str, sources: &[String], trained: &Trained, settings: &Settings) -> String {
    let Trained { set, fit, stack } = trained;
    let mut counts = [0usize; 3];
    set.rows.iter().for_each(|r| counts[r.label] += 1);
    let mut out = String::new();
    let line = |out: &mut String, name: &str, idf: f64, w: [f64; 3], digits: usize| {
        let w = centred(w);
        let _ = writeln!(out, "{name}\t{idf:.4}\t{:.digits$}\t{:.digits$}\t{:.digits$}", w[0], w[1], w[2]);
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
    let layer = match stack {
        Some(_) => format!("a stacked layer over {} folds with C = {}", settings.stack_folds, settings.stack_c),
        None => "no stacked layer".into(),
    };
    let _ = writeln!(
        out,
        "# with C = {}, min_df = {}, prune = {}, {} iterations, {layer}. kind:gram<TAB>idf<TAB>neg<TAB>neu<TAB>pos",
        settings.c, settings.min_df, settings.prune, settings.iterations
    );
    line(&mut out, "b:", 0.0, fit.bias, 4);
    for (name, w) in LEXICON_FEATURES.iter().zip(fit.lexicon) {
        line(&mut out, &format!("d:{name}"), 0.0, w, 4);
    }
    if let Some(stack) = stack {
        line(&mut out, "s:", 0.0, stack.bias, 4);
        for (name, w) in STACK_FEATURES.iter().zip(&stack.weights) {
            // Stacked weights need more digits: the log-probabilities they multiply are large.
            line(&mut out, &format!("s:{name}"), 0.0, *w, 6);
        }
    }
    for ((name, idf), w) in set.names.iter().zip(&set.idf).zip(&fit.grams) {
        line(&mut out, name, *idf, *w, 4);
    }
    out
}

fn parse(file: &str) -> Model {
    Model::parse(file).unwrap_or_else(|e| fail(&e))
}

/// Calls `f` once per fold (every `folds`-th post held out in turn) with the posts to
/// train on and the indices of the held-out ones.
fn each_fold(posts: &[&Post], folds: usize, mut f: impl FnMut(&[&Post], Vec<usize>)) {
    for fold in 0..folds {
        let held: Vec<usize> = (fold..posts.len()).step_by(folds).collect();
        let rest: Vec<&Post> = posts.iter().enumerate().filter(|(i, _)| i % folds != fold).map(|(_, p)| *p).collect();
        f(&rest, held);
    }
}

/// Macro-F1 over `folds` folds of the posts, each fold scored by the model file the
/// others train, read back as Vigie reads it.
fn cross_validate(lang: &str, posts: &[&Post], settings: &Settings, folds: usize) -> Confusion {
    let mut confusion = Confusion::default();
    each_fold(posts, folds, |rest, held| {
        let model = parse(&render(lang, &[], &train(lang, rest, settings), settings));
        for i in held {
            let post = posts[i];
            let folded = Folded::new(&post.text);
            let score = sentiment::from_probabilities(model.probabilities(Some(lang), &post.text, &folded));
            confusion.add(post.label, class_of(score));
        }
    });
    confusion
}

fn fail(message: &str) -> ! {
    eprintln!("sentiment-train: {message}");
    std::process::exit(2);
}

fn main() {
    let mut settings = Settings { c: 1.0, min_df: 2, prune: 0.02, iterations: 400, stack_folds: 5, stack_c: 1.0 };
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
            "--stack" => settings.stack_folds = number("--stack", value("--stack")) as usize,
            "--stack-c" => settings.stack_c = number("--stack-c", value("--stack-c")),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if paths.is_empty() {
        fail(USAGE);
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
        let trained = train(lang, &posts, &settings);
        let path = out.join(format!("{lang}.tsv"));
        std::fs::write(&path, render(lang, &sources[lang], &trained, &settings))
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        eprintln!("  {} grams kept, written to {}", trained.set.names.len(), path.display());
    }
}
