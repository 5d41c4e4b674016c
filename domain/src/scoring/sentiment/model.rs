//! Learned sentiment: a three-class logistic regression over the post's word 1–2-grams
//! and character 2–5-grams (TF-IDF, each group L2-normalised) and the rules' lexicon
//! reading, optionally stacked under a second, small regression that weighs its
//! log-probabilities against two readings learned elsewhere (a regression over the
//! post's mean word embedding, and one over grams fitted on snippets rated by people for
//! VADER) and the rules' reading of each sentence. The features are computed here, for
//! the trainer (`sentiment-train` in `vigie-bench`) and the scorer alike, so the two can
//! never drift apart.
//!
//! A model file holds one feature a line: `kind:gram<TAB>idf<TAB>neg<TAB>neu<TAB>pos`,
//! where kind is `w` (word gram), `c` (character gram), `d` (lexicon feature), `b` (the
//! bias), `e` (a word's weights in the embedding regression, its mean word embedding
//! projected on them; `e:` its bias) or `s` (the stacked layer: `s:` its bias, then one
//! line per [`STACK_FEATURES`] name); `r:w:gram` and `r:c:gram` lines hold
//! `idf<TAB>weight` of the rated-snippets regression (`r:` its bias, idf 0). Lines
//! starting with `#` are comments (provenance, settings).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::rules;
use crate::platform::text::Folded;

/// The three classes, in the order of the model's weights.
pub const CLASSES: [&str; 3] = ["neg", "neu", "pos"];

/// The index in [`CLASSES`] of the class a sentiment score reads as.
pub fn class_of(score: f64) -> usize {
    let class = super::SentimentClass::of(score).short();
    CLASSES.iter().position(|c| *c == class).unwrap_or(1)
}

/// The lexicon features, by name, in the order [`lexicon_features`] gives them.
pub const LEXICON_FEATURES: [&str; 3] = ["rules", "positive", "negative"];

/// The stacked layer's inputs, by name, in the order [`stack_features`] gives them: the
/// base regression's log-probabilities, the embedding regression's, the rated-snippets
/// regression's reading and its size, then [`sentence_features`].
pub const STACK_FEATURES: [&str; 8 + SENTENCE_FEATURES.len()] = [
    "log_neg",
    "log_neu",
    "log_pos",
    "embedding_neg",
    "embedding_neu",
    "embedding_pos",
    "rated",
    "rated_size",
    "rules",
    "positive",
    "negative",
    "first",
    "last",
    "highest",
    "lowest",
    "exclamations",
    "questions",
];

/// The rules' reading of a post, whole and sentence by sentence, by name.
pub const SENTENCE_FEATURES: [&str; 9] =
    ["rules", "positive", "negative", "first", "last", "highest", "lowest", "exclamations", "questions"];

/// The lexicon features weigh like a strong gram next to the L2-normalised groups.
const LEXICON_SCALE: f64 = 3.0;

/// The groups of grams, each normalised on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Word,
    Char,
}

impl Group {
    pub fn prefix(self) -> &'static str {
        match self {
            Group::Word => "w:",
            Group::Char => "c:",
        }
    }
}

/// The text the grams are read from: folded, handles and links replaced by `@user` and
/// `http` (as in public labelled sets), letters repeated three times or more cut to two
/// (`sooooo` → `soo`).
pub fn normalise(folded: &str) -> String {
    let mut out = String::with_capacity(folded.len());
    for chunk in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if chunk.starts_with('@') && chunk.len() > 1 {
            out.push_str("@user");
        } else if chunk.starts_with("http://") || chunk.starts_with("https://") || chunk == "http" {
            out.push_str("http");
        } else {
            let (mut last, mut run) = ('\0', 0);
            for c in chunk.chars() {
                run = if c == last { run + 1 } else { 1 };
                last = c;
                if run <= 2 || !c.is_alphabetic() {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// Calls `f` with every gram of a [`normalise`]d text, as the pieces that make it up
/// once joined: word unigrams and bigrams (a word is a run of letters and digits,
/// `@user`, or any other single character such as `!` or an emoji), and the character
/// 2- to 5-grams of each word padded with a space on both sides.
pub fn for_each_gram(text: &str, mut f: impl FnMut(Group, &[&str])) {
    let mut tokens: Vec<&str> = Vec::new();
    for chunk in text.split(' ') {
        if chunk == "@user" {
            tokens.push(chunk);
            continue;
        }
        let mut start = None;
        for (i, c) in chunk.char_indices() {
            if c.is_alphanumeric() {
                start.get_or_insert(i);
                continue;
            }
            if let Some(s) = start.take() {
                tokens.push(&chunk[s..i]);
            }
            // Joiners and variation selectors belong to the emoji around them.
            if !matches!(c, '\u{200d}' | '\u{fe0f}' | '\u{fe0e}') {
                tokens.push(&chunk[i..i + c.len_utf8()]);
            }
        }
        if let Some(s) = start {
            tokens.push(&chunk[s..]);
        }
    }
    let mut bounds: Vec<usize> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        f(Group::Word, &[token]);
        if let Some(next) = tokens.get(i + 1) {
            f(Group::Word, &[token, " ", next]);
        }
        if !token.starts_with(char::is_alphanumeric) {
            continue;
        }
        // The padded word ` token ` has `chars + 2` positions: 0 and `chars + 1` are
        // the spaces, `k` in between is the token's character `k - 1`.
        bounds.clear();
        bounds.extend(token.char_indices().map(|(i, _)| i));
        bounds.push(token.len());
        let chars = bounds.len() - 1;
        for n in 2..=5 {
            for start in 0..(chars + 3).saturating_sub(n) {
                let end = start + n;
                let lead = if start == 0 { " " } else { "" };
                let trail = if end == chars + 2 { " " } else { "" };
                let inner = &token[bounds[start.max(1) - 1]..bounds[end.min(chars + 1) - 1]];
                f(Group::Char, &[lead, inner, trail]);
            }
        }
    }
}

/// The rules' reading of a post as model features: its score and its positive and
/// negative sums, squashed.
pub fn lexicon_features(lang: Option<&str>, raw: &str, folded: &Folded) -> [f64; 3] {
    squashed(&rules::read(lang, raw, folded)).map(|x| x * LEXICON_SCALE)
}

fn squashed(reading: &rules::Reading) -> [f64; 3] {
    [reading.score, (reading.positive / 4.0).tanh(), (reading.negative / 4.0).tanh()]
}

/// The rules' reading of a post for the stacked layer: its score and its positive and
/// negative sums, squashed; the scores of its first and last sentences and of its most
/// positive and most negative ones, clipped at 0 (a tweet often turns between
/// sentences: "Great phone. Battery died in a day."); how many `!` and `?` it has.
pub fn sentence_features(lang: Option<&str>, raw: &str, folded: &Folded) -> [f64; SENTENCE_FEATURES.len()] {
    let reading = rules::read(lang, raw, folded);
    // A post of one sentence is read once: `folded` is `raw` folded, as everywhere.
    let scores: Vec<f64> = sentences(raw)
        .map(|s| if s.len() == raw.trim().len() { reading.score } else { rules::read(lang, s, &Folded::new(s)).score })
        .collect();
    let (first, last) = (scores.first().copied().unwrap_or(0.0), scores.last().copied().unwrap_or(0.0));
    // Clipped at 0: a post with no positive sentence has a `highest` of 0, not below.
    let highest = scores.iter().copied().fold(0.0, f64::max);
    let lowest = scores.iter().copied().fold(0.0, f64::min);
    let count = |c: char| (raw.matches(c).count().min(3) as f64) / 3.0;
    let [score, positive, negative] = squashed(&reading);
    [score, positive, negative, first, last, highest, lowest, count('!'), count('?')]
}

/// What the learned parts of a model read in a post: the base regression's and the
/// embedding regression's probabilities, and the rated-snippets regression's score (a
/// rating from -4 to 4, divided by 4).
#[derive(Clone, Copy, Debug)]
pub struct Parts {
    pub base: [f64; 3],
    pub embedding: [f64; 3],
    pub rated: f64,
}

/// The stacked layer's inputs for a post.
pub fn stack_features(parts: Parts, sentences: [f64; SENTENCE_FEATURES.len()]) -> [f64; STACK_FEATURES.len()] {
    let log = |p: f64| (p + 1e-6).ln();
    std::array::from_fn(|i| match i {
        0..3 => log(parts.base[i]),
        3..6 => log(parts.embedding[i - 3]),
        6 => parts.rated,
        7 => parts.rated.abs(),
        _ => sentences[i - 8],
    })
}

/// The sentences of a post: the runs between `.`, `!`, `?` and line breaks that hold a
/// letter or a digit.
fn sentences(raw: &str) -> impl Iterator<Item = &str> {
    raw.split_inclusive(['.', '!', '?', '\n']).map(str::trim).filter(|s| s.chars().any(char::is_alphanumeric))
}

/// 64-bit FNV-1a over the pieces, as if joined.
pub fn hash(pieces: &[&str]) -> u64 {
    pieces.iter().fold(0xcbf2_9ce4_8422_2325, |h, piece| fnv(h, piece.as_bytes()))
}

/// FNV-1a from `h` on over `bytes`.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// `1 + ln(tf)` times the idf of each gram, L2-normalised: the feature values of one
/// group, from the gram indices seen (in any order, repeated as often as seen).
pub fn tf_idf(seen: &mut [u32], idf: impl Fn(u32) -> f64) -> Vec<(u32, f64)> {
    seen.sort_unstable();
    let mut values: Vec<(u32, f64)> = Vec::with_capacity(seen.len());
    for &i in seen.iter() {
        match values.last_mut() {
            Some((last, tf)) if *last == i => *tf += 1.0,
            _ => values.push((i, 1.0)),
        }
    }
    for (i, v) in &mut values {
        *v = (1.0 + v.ln()) * idf(*i);
    }
    let norm = values.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
    if norm > 0.0 {
        values.iter_mut().for_each(|(_, v)| *v /= norm);
    }
    values
}

/// The keys of [`Model::grams`] are FNV hashes already: hashing them again (SipHash, by
/// default) would cost more than the lookup itself, hundreds of times a post.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; any other key still hashes, FNV-style.
        self.0 = fnv(self.0, bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Prehashing = BuildHasherDefault<Prehashed>;

/// A trained model, read from its file.
pub struct Model {
    /// Gram hash ([`hash`] of `kind:gram`) → its rows in each regression: one lookup a
    /// gram for the three.
    index: HashMap<u64, Rows, Prehashing>,
    grams: Table<[f64; 3]>,
    lexicon: [[f64; 3]; 3],
    bias: [f64; 3],
    /// Per word, the embedding regression's weights projected on the word's embedding:
    /// their mean over a post's words, plus the bias, are the regression's logits over
    /// the post's mean embedding.
    embedding: Vec<[f64; 3]>,
    embedding_bias: [f64; 3],
    rated: Table<f64>,
    rated_bias: f64,
    stack: Option<Stack>,
}

/// Grams and their weights in one regression.
struct Table<W> {
    idf: Vec<f64>,
    weights: Vec<W>,
}

impl<W> Default for Table<W> {
    fn default() -> Self {
        Table { idf: Vec::new(), weights: Vec::new() }
    }
}

/// A gram's rows in the base, rated-snippets and embedding regressions ([`Rows::NONE`]
/// where it has none).
#[derive(Clone, Copy)]
struct Rows {
    base: u32,
    rated: u32,
    embedding: u32,
}

impl Rows {
    const NONE: u32 = u32::MAX;
}

/// The next row of a table of `len` rows, under [`Rows::NONE`].
fn next_row(len: usize) -> Result<u32, ()> {
    u32::try_from(len).ok().filter(|row| *row != Rows::NONE).ok_or(())
}

impl<W> Table<W> {
    fn insert(&mut self, idf: f64, weights: W) -> Result<u32, ()> {
        let row = next_row(self.weights.len())?;
        self.idf.push(idf);
        self.weights.push(weights);
        Ok(row)
    }

    /// The [`tf_idf`] values of the rows seen, with their weights.
    fn values<'a>(&'a self, seen: &mut [u32]) -> impl Iterator<Item = (f64, &'a W)> + use<'a, W> {
        tf_idf(seen, |row| self.idf[row as usize]).into_iter().map(|(row, value)| (value, &self.weights[row as usize]))
    }
}

/// The stacked layer: weights over [`STACK_FEATURES`] (standardised when trained, the
/// scaling folded into the weights and the bias).
struct Stack {
    weights: [[f64; 3]; STACK_FEATURES.len()],
    bias: [f64; 3],
}

impl Model {
    /// Reads a model file; a malformed line is an error naming it.
    pub fn parse(data: &str) -> Result<Model, String> {
        let mut model = Model {
            index: HashMap::default(),
            grams: Table::default(),
            lexicon: [[0.0; 3]; 3],
            bias: [0.0; 3],
            embedding: Vec::new(),
            embedding_bias: [0.0; 3],
            rated: Table::default(),
            rated_bias: 0.0,
            stack: None,
        };
        // A stacked layer counts only whole: a file cut short must not score every post
        // by its bias.
        let mut stack_rows = [false; STACK_FEATURES.len() + 1];
        // So are the regressions it weighs: their bias lines say they are there.
        let (mut embedding_bias, mut rated_bias) = (false, false);
        for (n, line) in data.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.is_empty()) {
            let bad = || format!("line {}: expected kind:gram<TAB>idf<TAB>neg<TAB>neu<TAB>pos", n + 1);
            let mut fields = line.split('\t');
            let name = fields.next().ok_or_else(bad)?;
            let number = |f: &str| f.parse::<f64>().ok().filter(|x| x.is_finite()).ok_or_else(bad);
            let numbers: Vec<f64> = fields.map(number).collect::<Result<_, _>>()?;
            let (kind, feature) = name.split_once(':').ok_or_else(bad)?;
            let twice = || format!("line {}: `{name}` is given twice", n + 1);
            // A gram's row in one regression, set once.
            let set = |slot: &mut u32, row: u32| {
                if *slot != Rows::NONE {
                    return Err(twice());
                }
                *slot = row;
                Ok(())
            };
            if kind == "r" {
                let [idf, weight] = numbers[..] else {
                    return Err(format!("line {}: expected r:gram<TAB>idf<TAB>weight", n + 1));
                };
                match feature {
                    "" if std::mem::replace(&mut rated_bias, true) => return Err(twice()),
                    "" => model.rated_bias = weight,
                    gram if gram.starts_with("w:") || gram.starts_with("c:") => {
                        let row = model.rated.insert(idf, weight).map_err(|()| bad())?;
                        set(&mut model.rows(hash(&[gram])).rated, row)?;
                    }
                    _ => return Err(bad()),
                }
                continue;
            }
            let [idf, neg, neu, pos] = numbers[..] else { return Err(bad()) };
            let weights = [neg, neu, pos];
            match (kind, feature) {
                ("b", _) => model.bias = weights,
                ("d", feature) => {
                    let i = LEXICON_FEATURES.iter().position(|f| *f == feature).ok_or_else(bad)?;
                    model.lexicon[i] = weights;
                }
                ("e", "") if std::mem::replace(&mut embedding_bias, true) => return Err(twice()),
                ("e", "") => model.embedding_bias = weights,
                ("e", word) => {
                    let row = next_row(model.embedding.len()).map_err(|()| bad())?;
                    model.embedding.push(weights);
                    set(&mut model.rows(hash(&[Group::Word.prefix(), word])).embedding, row)?;
                }
                ("s", feature) => {
                    let stack =
                        model.stack.get_or_insert(Stack { weights: [[0.0; 3]; STACK_FEATURES.len()], bias: [0.0; 3] });
                    // Row 0 is the bias, then the features in order.
                    let row = match STACK_FEATURES.iter().position(|f| *f == feature) {
                        Some(i) => {
                            stack.weights[i] = weights;
                            i + 1
                        }
                        None if feature.is_empty() => {
                            stack.bias = weights;
                            0
                        }
                        None => return Err(bad()),
                    };
                    if std::mem::replace(&mut stack_rows[row], true) {
                        return Err(format!("line {}: `{name}` is given twice", n + 1));
                    }
                }
                ("w" | "c", _) => {
                    let row = model.grams.insert(idf, weights).map_err(|()| bad())?;
                    set(&mut model.rows(hash(&[name])).base, row)?;
                }
                _ => return Err(bad()),
            }
        }
        if let Some(stack) = &model.stack {
            if stack_rows.contains(&false) {
                return Err("the stacked layer (`s:` lines) is incomplete".into());
            }
            let weighs = |features: std::ops::Range<usize>| stack.weights[features].iter().flatten().any(|w| *w != 0.0);
            if weighs(3..6) && !embedding_bias {
                return Err("the stacked layer weighs the embedding regression, which has no `e:` line".into());
            }
            if weighs(6..8) && !rated_bias {
                return Err("the stacked layer weighs the rated-snippets regression, which has no `r:` line".into());
            }
        }
        Ok(model)
    }

    fn rows(&mut self, key: u64) -> &mut Rows {
        self.index.entry(key).or_insert(Rows { base: Rows::NONE, rated: Rows::NONE, embedding: Rows::NONE })
    }

    /// How many grams the model weighs.
    pub fn grams(&self) -> usize {
        self.grams.weights.len()
    }

    /// The probabilities of [`CLASSES`] for a post.
    pub fn probabilities(&self, lang: Option<&str>, raw: &str, folded: &Folded) -> [f64; 3] {
        let Some(stack) = &self.stack else { return self.parts(lang, raw, folded).base };
        let sentences = sentence_features(lang, raw, folded);
        let lexicon = [sentences[0], sentences[1], sentences[2]].map(|x| x * LEXICON_SCALE);
        let parts = self.read(folded, lexicon);
        let mut logits = stack.bias;
        for (value, w) in stack_features(parts, sentences).iter().zip(&stack.weights) {
            (0..3).for_each(|c| logits[c] += w[c] * value);
        }
        softmax(logits)
    }

    /// Whether the file has a stacked layer.
    pub fn is_stacked(&self) -> bool {
        self.stack.is_some()
    }

    /// What the regressions under the stacked layer read in a post.
    pub fn parts(&self, lang: Option<&str>, raw: &str, folded: &Folded) -> Parts {
        self.read(folded, lexicon_features(lang, raw, folded))
    }

    /// One pass over the post's grams for the three regressions.
    fn read(&self, folded: &Folded, lexicon: [f64; 3]) -> Parts {
        let text = normalise(&folded.text);
        let (mut words, mut chars) = (Vec::new(), Vec::new());
        let (mut rated_words, mut rated_chars) = (Vec::new(), Vec::new());
        let (mut embedding, mut embedded) = ([0.0; 3], 0usize);
        for_each_gram(&text, |group, pieces| {
            let mut key = [group.prefix(), "", "", ""];
            key[1..=pieces.len()].copy_from_slice(pieces);
            let Some(rows) = self.index.get(&hash(&key)) else { return };
            let (base, rated) = match group {
                Group::Word => (&mut words, &mut rated_words),
                Group::Char => (&mut chars, &mut rated_chars),
            };
            if rows.base != Rows::NONE {
                base.push(rows.base);
            }
            if rows.rated != Rows::NONE {
                rated.push(rows.rated);
            }
            if let (Rows { embedding: row, .. }, [_]) = (rows, pieces)
                && *row != Rows::NONE
            {
                let w = &self.embedding[*row as usize];
                (0..3).for_each(|c| embedding[c] += w[c]);
                embedded += 1;
            }
        });
        let mut logits = self.bias;
        for (value, w) in self.grams.values(&mut words).chain(self.grams.values(&mut chars)) {
            (0..3).for_each(|c| logits[c] += w[c] * value);
        }
        for (value, w) in lexicon.iter().zip(&self.lexicon) {
            (0..3).for_each(|c| logits[c] += w[c] * value);
        }
        let rated = self.rated_bias
            + self
                .rated
                .values(&mut rated_words)
                .chain(self.rated.values(&mut rated_chars))
                .map(|(v, w)| v * w)
                .sum::<f64>();
        let embedding: [f64; 3] =
            std::array::from_fn(|c| self.embedding_bias[c] + embedding[c] / embedded.max(1) as f64);
        Parts { base: softmax(logits), embedding: softmax(embedding), rated }
    }
}

pub fn softmax(logits: [f64; 3]) -> [f64; 3] {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e = logits.map(|l| (l - max).exp());
    let sum: f64 = e.iter().sum();
    e.map(|x| x / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_gram(&normalise(&crate::platform::text::fold(text)), |group, pieces| {
            out.push(format!("{}{}", group.prefix(), pieces.concat()));
        });
        out
    }

    #[test]
    fn grams_are_read_from_normalised_text() {
        assert_eq!(
            normalise("@lou c'est sooooo bien!!! https://x.example/a 😍😍😍"),
            "@user c'est soo bien!!! http 😍😍😍"
        );
        let g = grams("Top 👍");
        for expected in ["w:top", "w:👍", "w:top 👍", "c: t", "c:to", "c:op ", "c: top ", "c:top "] {
            assert!(g.contains(&expected.to_owned()), "{expected} in {g:?}");
        }
        assert!(!g.iter().any(|x| x.starts_with("c:") && x.contains('👍')), "emoji have no character grams");
        // Every character gram of a word of n characters: n + 1 of 2, n of 3… for ` ab `.
        assert_eq!(grams("ab").iter().filter(|x| x.starts_with("c:")).count(), 3 + 2 + 1);
        assert_eq!(grams("@verdure_fr, merci").iter().filter(|x| *x == "w:@user").count(), 1);
        // Non-ASCII letters cut on character boundaries.
        assert!(grams("été").contains(&"c: et".to_owned()));
        assert!(grams("日本語").contains(&"c:日本".to_owned()));
    }

    #[test]
    fn malformed_models_are_refused() {
        assert!(Model::parse("w:top\t1\t0\t0\n").is_err());
        assert!(Model::parse("x:top\t1\t0\t0\t0\n").is_err());
        assert!(Model::parse("d:unknown\t0\t0\t0\t0\n").is_err());
        assert!(Model::parse("s:unknown\t0\t0\t0\t0\n").is_err());
        assert!(Model::parse("w:top\t1\tnope\t0\t0\n").is_err());
        let model = Model::parse("# comment\nb:\t0\t0\t1\t0\nw:top\t1\t-1\t0\t2\n").unwrap();
        let p = model.probabilities(Some("en"), "top", &Folded::new("top"));
        assert!(p[2] > p[1] && p[1] > p[0], "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(!model.is_stacked());
    }

    const BASE: &str = "b:\t0\t0\t1\t0\nw:top\t1\t-1\t0\t2\n";

    /// [`BASE`] under a layer that trusts its log-probabilities and reads `?` as neutral.
    fn stacked_file() -> String {
        let mut file = format!("{BASE}s:\t0\t0\t0\t0\n");
        for (i, name) in STACK_FEATURES.iter().enumerate() {
            let mut w = [0; 3];
            if i < 3 {
                w[i] = 1;
            } else if *name == "questions" {
                w[1] = 9;
            }
            file.push_str(&format!("s:{name}\t0\t{}\t{}\t{}\n", w[0], w[1], w[2]));
        }
        file
    }

    #[test]
    fn a_stacked_layer_reweighs_the_base() {
        let (base, stacked) = (Model::parse(BASE).unwrap(), Model::parse(&stacked_file()).unwrap());
        assert!(stacked.is_stacked());
        let read = |m: &Model, text: &str| m.probabilities(Some("en"), text, &Folded::new(text));
        let (plain, asked) = (read(&stacked, "top"), read(&stacked, "top?"));
        let same = read(&base, "top");
        assert!(plain.iter().zip(same).all(|(a, b)| (a - b).abs() < 1e-4), "{plain:?} {same:?}");
        assert!(asked[1] > asked[2], "{asked:?}");
        assert!(Model::parse("s:log_neg\t0\t1\t0\n").is_err());
        assert!(Model::parse("s:\t0\t0\t0\t0\n").is_err(), "an incomplete layer");
        let mut twice = stacked_file();
        twice.push_str("s:rules\t0\t1\t0\t0\n");
        assert!(Model::parse(&twice).is_err(), "a line given twice");
        assert!(Model::parse("w:top\t1\tNaN\t0\t0\n").is_err());
        assert!(Model::parse("w:top\t1\tinf\t0\t0\n").is_err());
    }

    #[test]
    fn the_stack_reads_the_sentence_features_in_order() {
        assert_eq!(STACK_FEATURES[8..], SENTENCE_FEATURES);
        let f = |text: &str| sentence_features(Some("en"), text, &Folded::new(text));
        let [_, _, _, first, last, highest, lowest, exclamations, _] = f("Great phone. Battery died in a day!");
        assert!(first > 0.0 && highest == first, "{first} {highest}");
        assert!(last < 0.0 && lowest == last, "{last} {lowest}");
        assert!(exclamations > 0.0);
    }

    #[test]
    fn embedding_and_rated_lines_are_read() {
        let file = "b:\t0\t0\t0\t0\ne:\t0\t0\t0.5\t0\ne:great\t0\t-1\t0\t1\nr:\t0\t0.1\nr:w:great\t1\t0.5\nr:c: gr\t1\t-0.25\n";
        let model = Model::parse(file).unwrap();
        let parts = |text: &str| model.parts(Some("en"), text, &Folded::new(text));
        let great = parts("Great, great!");
        assert!(great.embedding[2] > great.embedding[1] && great.embedding[1] > great.embedding[0], "{great:?}");
        // One word gram and one character gram, each alone in its group: values of 1.
        assert!((great.rated - (0.1 + 0.5 - 0.25)).abs() < 1e-9, "{great:?}");
        // No known word: the embedding regression's bias alone, the rated one's too.
        let other = parts("rain");
        assert!(other.embedding[1] > other.embedding[0] && (other.embedding[0] - other.embedding[2]).abs() < 1e-12);
        assert!((other.rated - 0.1).abs() < 1e-9);
        // Half the words known: the mean is over the known ones.
        let half = parts("rain great");
        assert!((half.embedding[2] - great.embedding[2]).abs() < 1e-9, "{half:?} {great:?}");
        assert!(Model::parse("r:w:great\t1\t0.5\t0\t0\n").is_err(), "rated lines have one weight");
        assert!(Model::parse("r:x:great\t1\t0.5\n").is_err(), "rated grams are word or character grams");
        assert!(Model::parse("e:great\t0\t1\n").is_err());
        for repeated in ["e:great\t0\t0\t0\t1\n", "e:\t0\t0\t0\t1\n", "r:w:great\t1\t0.2\n", "r:\t0\t0.2\n"] {
            let err = Model::parse(&format!("{file}{repeated}")).err().unwrap_or_default();
            assert!(err.contains("given twice"), "{repeated:?}: {err}");
        }
        assert!(Model::parse("w:top\t1\t0\t0\t1\nw:top\t1\t0\t0\t2\n").is_err(), "a gram given twice");
    }

    #[test]
    fn a_stack_that_weighs_a_missing_regression_is_refused() {
        let weighing = |feature: &str| {
            stacked_file().replace(&format!("s:{feature}\t0\t0\t0\t0\n"), &format!("s:{feature}\t0\t0\t0\t1\n"))
        };
        let (embedding, rated) = (weighing("embedding_pos"), weighing("rated"));
        assert_ne!(embedding, stacked_file());
        assert!(Model::parse(&embedding).err().unwrap_or_default().contains("`e:`"));
        assert!(Model::parse(&rated).err().unwrap_or_default().contains("`r:`"));
        assert!(Model::parse(&format!("{embedding}e:\t0\t0\t0\t0\n")).is_ok());
        assert!(Model::parse(&format!("{rated}r:\t0\t0\n")).is_ok());
    }
}
