//! Rule-based sentiment from lexicons, in [-1, 1]: the whole reading for languages
//! without a model, and the lexicon features of the models.
//!
//! Each word of the lexicon has a valence from -4 to +4. Around it:
//! - a negation in the three words before it, within the same clause, flips and damps
//!   it (`not good`, `pas mauvais`, `je n'ai jamais été déçue`); `du tout` / `at all`
//!   after a negation strengthens the flip (`pas mauvais du tout` is clearly positive);
//! - an intensifier just before it (`very`, `vraiment`) strengthens it, a diminisher
//!   (`a bit`, `un peu`) weakens it; a word in capitals in a mixed-case post shouts;
//! - after `but` / `mais` words weigh more and before it less;
//! - emoji carry their own valence; exclamation marks push the sum further.
//!
//! The sum is squashed with `s / sqrt(s² + 15)`, which keeps one strong word short
//! of ±1. Lexicons live in `domain/data/lexicon/` (see the LICENSE file there); the
//! English one is VADER's, with Vigie's own entries over it.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::platform::text::Folded;

const NEGATION_FLIP: f64 = -0.74;
const INTENSIFY: f64 = 1.4;
const DIMINISH: f64 = 0.6;

struct Lexicon {
    words: HashMap<String, f64>,
    /// Multi-word entries (`never again`, `plus jamais`) by their first word, longest
    /// first: a word is compared only with the phrases that start with it.
    phrases: HashMap<String, Vec<(Vec<String>, f64)>>,
}

/// A lexicon from `word<TAB>valence` files, a later file's entries over an earlier's.
fn parse(files: &[&str]) -> Lexicon {
    let mut words = HashMap::new();
    let mut phrases: HashMap<String, Vec<(Vec<String>, f64)>> = HashMap::new();
    let lines = files.iter().flat_map(|data| data.lines());
    for line in lines.filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let Some((entry, valence)) = line.split_once('\t') else { continue };
        let Ok(valence) = valence.trim().parse::<f64>() else { continue };
        let parts = crate::platform::text::words(entry);
        match parts.len() {
            0 => {}
            1 => {
                words.insert(parts.into_iter().next().unwrap_or_default(), valence);
            }
            _ => {
                let starting = phrases.entry(parts[0].clone()).or_default();
                starting.retain(|(p, _)| *p != parts);
                starting.push((parts, valence));
            }
        }
    }
    for starting in phrases.values_mut() {
        starting.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    }
    Lexicon { words, phrases }
}

static EN: LazyLock<Lexicon> = LazyLock::new(|| {
    parse(&[include_str!("../../../data/lexicon/vader_en.tsv"), include_str!("../../../data/lexicon/en.tsv")])
});
static FR: LazyLock<Lexicon> = LazyLock::new(|| parse(&[include_str!("../../../data/lexicon/fr.tsv")]));
/// Emoji valences by character, looked up in one pass over the text. Every entry of the
/// table is one character once the variation selector is dropped (a test holds it to
/// that; a sequence such as a ZWJ one would need a matcher of its own).
static EMOJI: LazyLock<HashMap<char, f64>> = LazyLock::new(|| {
    include_str!("../../../data/lexicon/emoji.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(e, v)| {
            let mut chars = e.chars().filter(|c| *c != '\u{fe0f}');
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some((c, v.trim().parse().ok()?)),
                _ => None,
            }
        })
        .collect()
});

struct Rules {
    negations: &'static [&'static str],
    /// Negations only after `ne`/`n'` (French `plus`: `n'est plus bon`, but `le plus beau`).
    negations_after_ne: &'static [&'static str],
    intensifiers: &'static [&'static str],
    diminishers: &'static [&'static str],
    contrast: &'static [&'static str],
    at_all: [&'static str; 2],
}

const EN_RULES: Rules = Rules {
    negations: &["not", "no", "never", "nor", "none", "nobody", "nothing", "neither", "without", "cannot", "hardly"],
    negations_after_ne: &[],
    intensifiers: &[
        "very",
        "really",
        "so",
        "extremely",
        "totally",
        "absolutely",
        "incredibly",
        "highly",
        "truly",
        "completely",
        "utterly",
        "such",
        "super",
        "too",
        "most",
        "genuinely",
        "seriously",
    ],
    diminishers: &["slightly", "somewhat", "bit", "little", "kinda", "fairly", "barely", "quite"],
    contrast: &["but", "however", "although", "though"],
    at_all: ["at", "all"],
};

const FR_RULES: Rules = Rules {
    negations: &["ne", "n", "pas", "jamais", "aucun", "aucune", "rien", "sans", "ni", "guere"],
    negations_after_ne: &["plus"],
    intensifiers: &[
        "tres",
        "vraiment",
        "trop",
        "hyper",
        "tellement",
        "extremement",
        "vivement",
        "completement",
        "totalement",
        "si",
        "super",
        "franchement",
        "carrement",
        "archi",
        "ultra",
        "vachement",
        "grave",
    ],
    diminishers: &["peu", "assez", "plutot", "moyennement", "legerement"],
    contrast: &["mais", "cependant", "pourtant", "toutefois"],
    at_all: ["du", "tout"],
};

/// What the rules read in a post.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Reading {
    /// In [-1, 1].
    pub score: f64,
    /// The sum of the positive valences, after negation and intensifiers.
    pub positive: f64,
    /// The sum of the negative valences (≤ 0).
    pub negative: f64,
}

impl Reading {
    fn add(&mut self, valence: f64) {
        if valence > 0.0 {
            self.positive += valence;
        } else {
            self.negative += valence;
        }
    }
}

/// Sentiment of `raw` (folded: `folded`) in `lang` (`fr`, `en`; anything else scores
/// emoji only), in [-1, 1].
pub fn score(lang: Option<&str>, raw: &str, folded: &Folded) -> f64 {
    (read(lang, raw, folded).score * 1000.0).round() / 1000.0
}

/// [`score`] with the sums it comes from.
pub fn read(lang: Option<&str>, raw: &str, folded: &Folded) -> Reading {
    let (lexicon, rules) = match lang {
        Some("fr") => (Some(&*FR), &FR_RULES),
        Some("en") => (Some(&*EN), &EN_RULES),
        _ => (None, &EN_RULES),
    };
    let mut reading = Reading::default();
    if let Some(lexicon) = lexicon {
        words_valence(lexicon, rules, raw, folded, &mut reading);
    }
    // The variation selector is in no entry, so it is passed over like any other
    // character.
    raw.chars().filter_map(|c| EMOJI.get(&c)).for_each(|v| reading.add(*v));
    let mut sum = reading.positive + reading.negative;
    if sum != 0.0 {
        let bangs = raw.matches('!').count().min(3) as f64;
        sum += sum.signum() * 0.3 * bangs;
    }
    reading.score = sum / (sum * sum + 15.0).sqrt();
    reading
}

/// The English folding of `n't` would split `don't` into `don` + `t`; spell it out.
fn expand_contractions(words: &[String]) -> Vec<&str> {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| if w == "t" && i > 0 && words[i - 1].ends_with('n') { "not" } else { w.as_str() })
        .collect()
}

fn lookup(lexicon: &Lexicon, word: &str) -> Option<f64> {
    if let Some(v) = lexicon.words.get(word) {
        return Some(*v);
    }
    // Plurals and French feminine forms (`déçues` → `deçu`).
    ["es", "s", "e"]
        .iter()
        .filter_map(|suffix| word.strip_suffix(suffix))
        .filter(|stem| stem.len() > 2)
        .find_map(|stem| lexicon.words.get(stem).copied())
}

fn words_valence(lexicon: &Lexicon, rules: &Rules, raw: &str, folded: &Folded, reading: &mut Reading) {
    let words = expand_contractions(&folded.words);
    let clauses = clause_of_each_word(&folded.text, words.len());
    let shouting = raw.chars().any(char::is_lowercase);
    let caps: Vec<bool> = caps_words(raw);
    let contrast_at = words.iter().rposition(|w| rules.contrast.contains(w));
    let starts_with = |i: usize, phrase: &[String]| {
        words.len() - i >= phrase.len() && phrase.iter().zip(&words[i..]).all(|(p, w)| p == w)
    };
    let mut i = 0;
    while i < words.len() {
        let phrase =
            lexicon.phrases.get(words[i]).and_then(|starting| starting.iter().find(|(p, _)| starts_with(i, p)));
        let (valence, len) = match phrase {
            Some((p, v)) => (*v, p.len()),
            None => (lookup(lexicon, words[i]).unwrap_or(0.0), 1),
        };
        if valence == 0.0 {
            i += len;
            continue;
        }
        let mut v = valence;
        let window = i.saturating_sub(3)..i;
        let same_clause = |j: usize| clauses[j] == clauses[i];
        let negated = window.clone().filter(|&j| same_clause(j)).any(|j| {
            rules.negations.contains(&words[j])
                || (rules.negations_after_ne.contains(&words[j])
                    && j.checked_sub(2).is_some_and(|k| words[k..j].iter().any(|w| *w == "ne" || *w == "n")))
        });
        if i > 0 && same_clause(i - 1) {
            let before = words[i - 1];
            if rules.intensifiers.contains(&before) {
                v *= INTENSIFY;
            } else if rules.diminishers.contains(&before) {
                v *= DIMINISH;
            }
        }
        if negated {
            v *= NEGATION_FLIP;
            let [a, b] = rules.at_all;
            let follows = |k: usize| words.get(k).is_some_and(|w| *w == a) && words.get(k + 1).is_some_and(|w| *w == b);
            if follows(i + len) || window.clone().any(follows) {
                v *= 1.5;
            }
        }
        if shouting && caps.get(i).copied().unwrap_or(false) {
            v *= 1.3;
        }
        match contrast_at {
            Some(c) if i < c => v *= 0.5,
            Some(c) if i > c => v *= 1.5,
            _ => {}
        }
        reading.add(v);
        i += len;
    }
}

/// For each of the `count` words of a folded text, the index of the clause it sits in
/// (clauses end at `, . ; : ! ?`), so that a negation never reaches across a comma
/// (`plus jamais, la pire pizza`).
fn clause_of_each_word(folded: &str, count: usize) -> Vec<usize> {
    let mut clauses = Vec::with_capacity(count);
    let mut clause = 0;
    let mut in_word = false;
    for c in folded.chars() {
        if c.is_alphanumeric() {
            if !in_word {
                clauses.push(clause);
                in_word = true;
            }
        } else {
            in_word = false;
            if matches!(c, ',' | '.' | ';' | ':' | '!' | '?') {
                clause += 1;
            }
        }
    }
    clauses.resize(count, clause);
    clauses
}

/// Whether each word of `raw` is written in capitals (three letters or more).
fn caps_words(raw: &str) -> Vec<bool> {
    raw.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().count() >= 3 && w.chars().all(|c| !c.is_lowercase()) && w.chars().any(char::is_uppercase))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(lang: &str, text: &str) -> f64 {
        score(Some(lang), text, &Folded::new(text))
    }

    #[test]
    fn negation_intensifiers_and_emoji() {
        assert!(s("fr", "pas mauvais du tout") > 0.3);
        assert!(s("fr", "pas mauvais du tout") > s("fr", "pas mauvais"));
        assert!(s("en", "not good") < 0.0);
        assert!(s("en", "good") > 0.0);
        assert!(s("en", "very good") > s("en", "good"));
        assert!(s("fr", "vraiment nul") < s("fr", "nul"));
        assert!(s("en", "a bit disappointing") > s("en", "disappointing"));
        assert!(s("fr", "je n'ai jamais été déçue") > 0.0);
        assert!(s("fr", "plus jamais, la pire pizza") < 0.0);
        assert!(s("fr", "ce n'est plus bon") < 0.0);
        assert!(s("en", "I don't like it") < 0.0);
        assert!(s("en", "😡😡") < -0.5);
        assert!(s("en", "the box 👍") > 0.0);
        assert!(score(None, "¡Me encanta! 😍", &Folded::new("¡Me encanta! 😍")) > 0.0);
        assert_eq!(s("en", "love ❤️❤"), s("en", "love ❤❤"), "with and without the variation selector");
        assert!(s("en", "GREAT product") > s("en", "great product"));
        assert!(s("en", "good but awful support") < 0.0);
        assert_eq!(s("en", "The store opens at nine"), 0.0);
        for text in ["terrible terrible terrible horrible awful 😡😡😡!!!", "love love love 😍😍😍!!!"] {
            assert!(s("en", text).abs() <= 1.0);
        }
    }

    #[test]
    fn every_emoji_entry_is_one_character_and_read() {
        let entries = include_str!("../../../data/lexicon/emoji.tsv").lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(EMOJI.len(), entries, "an entry of emoji.tsv is not one character with its valence, or is twice");
    }
}
