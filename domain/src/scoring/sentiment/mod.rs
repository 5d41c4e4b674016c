//! Sentiment in [-1, 1]: a learned model for French and English ([`model`], trained on
//! public labelled tweets; see `domain/data/sentiment/README.md`), the lexicon rules
//! ([`rules`]) for the other languages.

pub mod model;
pub mod rules;

use std::sync::LazyLock;

use crate::platform::text::Folded;
use model::Model;

static EN: LazyLock<Model> = LazyLock::new(|| load(include_str!("../../../data/sentiment/en.tsv")));
static FR: LazyLock<Model> = LazyLock::new(|| load(include_str!("../../../data/sentiment/fr.tsv")));

fn load(data: &str) -> Model {
    // The files are part of the build, and a test reads them both.
    Model::parse(data).unwrap_or_else(|e| panic!("a shipped sentiment model is malformed: {e}"))
}

/// Sentiment classes for filtering: scores under -0.1 are negative, over 0.1 positive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentimentClass {
    Positive,
    Neutral,
    Negative,
}

/// The score under which a mention counts as negative (and its opposite, positive).
pub const NEUTRAL_BAND: f64 = 0.1;

impl SentimentClass {
    /// The class of a sentiment score, as filters, charts and crises read it.
    pub fn of(score: f64) -> Self {
        if score >= NEUTRAL_BAND {
            SentimentClass::Positive
        } else if score <= -NEUTRAL_BAND {
            SentimentClass::Negative
        } else {
            SentimentClass::Neutral
        }
    }

    /// `pos`, `neu` or `neg`, as labelled sets write them.
    pub fn short(self) -> &'static str {
        match self {
            SentimentClass::Positive => "pos",
            SentimentClass::Neutral => "neu",
            SentimentClass::Negative => "neg",
        }
    }
}

/// The model for a language, if there is one.
pub fn model(lang: Option<&str>) -> Option<&'static Model> {
    match lang {
        Some("en") => Some(&EN),
        Some("fr") => Some(&FR),
        _ => None,
    }
}

/// Sentiment of `raw` (folded: `folded`) in `lang`, in [-1, 1], rounded to 3 decimals.
pub fn score(lang: Option<&str>, raw: &str, folded: &Folded) -> f64 {
    match model(lang) {
        Some(model) => from_probabilities(model.probabilities(lang, raw, folded)),
        None => rules::score(lang, raw, folded),
    }
}

/// A score whose class ([`SentimentClass::of`]) is the likeliest
/// class, and whose size grows with the margin over the runner-up: neutral posts fall
/// inside the neutral band, leaning by how much more positive than negative they read;
/// positive and negative ones run from the band's edge to ±1.
pub fn from_probabilities([neg, neu, pos]: [f64; 3]) -> f64 {
    let band = NEUTRAL_BAND;
    let s = if neu >= neg && neu >= pos {
        // Strictly inside the band, so that rounding cannot carry it over; |pos - neg| is
        // under a half when neutral is the likeliest.
        (band - 0.001) * 2.0 * (pos - neg)
    } else if pos > neg {
        band + (1.0 - band) * (pos - neu.max(neg))
    } else {
        -(band + (1.0 - band) * (neg - neu.max(pos)))
    };
    (s * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_models_read_both_languages() {
        for lang in ["en", "fr"] {
            let model = model(Some(lang)).unwrap();
            assert!(model.grams() > 10_000, "{lang}: {} grams", model.grams());
        }
        let s = |lang: &str, text: &str| score(Some(lang), text, &Folded::new(text));
        assert!(s("fr", "Franchement déçue, plus jamais je n'achète chez eux 😡") <= -NEUTRAL_BAND);
        assert!(s("fr", "Trop contente de mon shampoing, merci ❤️") >= NEUTRAL_BAND);
        assert!(s("en", "Worst customer service ever, still waiting for a refund") <= -NEUTRAL_BAND);
        assert!(s("en", "Love it, best purchase this year!") >= NEUTRAL_BAND);
        assert!(s("es", "¡Me encanta! 😍") > 0.0, "other languages read by the rules");
    }

    proptest::proptest! {
        /// The class of the score is the likeliest class, and the score stays in [-1, 1].
        #[test]
        fn the_score_keeps_the_likeliest_class(a in 0.0f64..1.0, b in 0.0f64..1.0, c in 0.0f64..1.0) {
            let sum = a + b + c;
            proptest::prop_assume!(sum > 1e-6);
            let p = [a / sum, b / sum, c / sum];
            let s = from_probabilities(p);
            proptest::prop_assert!((-1.0..=1.0).contains(&s));
            let likeliest = (0..3).max_by(|&i, &j| p[i].total_cmp(&p[j])).unwrap();
            let tie = (0..3).filter(|&i| i != likeliest).any(|i| (p[i] - p[likeliest]).abs() < 1e-3);
            proptest::prop_assert!(tie || model::class_of(s) == likeliest, "{p:?} → {s}");
        }
    }
}
