//! Scoring: what Vigie reads in a mention (language, sentiment, the brand values it
//! touches, whether it solicits the brand) and the influence of its author. Pure
//! functions here: [`crate::mentions::store`] runs them as it stores mentions, and the
//! `mentions.score` job of [`crate::mentions::pipeline`] scores those left unscored.

pub mod influence;
pub mod lang;
pub mod mobilisation;
pub mod sentiment;
pub mod solicitation;
pub mod values;

#[cfg(test)]
mod eval;

use uuid::Uuid;

pub use influence::{Stance, Tier};
pub use solicitation::Priority;

pub use values::{ValueMatcher, ValueReading, ValueStance};

use crate::platform::text::{Folded, Phrase};

/// What a mention says, for one brand.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// ISO 639-1 code: the one the mention came with, else the detected one.
    pub lang: Option<String>,
    /// In [-1, 1].
    pub sentiment: f64,
    /// Ids of the brand values the mention touches.
    pub value_tags: Vec<Uuid>,
    /// How it speaks of each of them.
    pub value_stances: Vec<ValueReading>,
    /// Whether it addresses the brand and asks or complains.
    pub is_solicitation: bool,
}

impl Analysis {
    /// Whether the mention accuses the brand of failing one of its values.
    pub fn accuses(&self) -> bool {
        self.value_stances.iter().any(|r| r.stance == ValueStance::Accuses)
    }
}

/// A mention to analyse.
pub struct Input<'a> {
    pub text: &'a str,
    pub lang: Option<&'a str>,
    /// A reply to the brand or a direct message.
    pub addressed: bool,
    /// A review's stars (1 to 5), when the mention is a review.
    pub rating: Option<i16>,
}

/// A review's stars weigh as much as its words, and a review of one or two stars reads
/// at least as a complaint (−0.3) whatever its words: "great staff" under one star is
/// not praise.
fn rated(sentiment: f64, rating: Option<i16>) -> f64 {
    let Some(stars) = rating.map(|r| r.clamp(1, 5)) else { return sentiment };
    let blended = ((sentiment + f64::from(stars - 3) / 2.0) / 2.0).clamp(-1.0, 1.0);
    if stars <= 2 { blended.min(-0.3) } else { blended }
}

/// Analyses one mention for a brand with its handles and values.
pub fn analyze(input: &Input<'_>, handles: &[String], values: &[ValueMatcher]) -> Analysis {
    analyze_folded(input, &Folded::new(input.text), &solicitation::handle_mentions(handles), values, None)
}

/// [`analyze`], on the mention's text folded by the caller and the brand's handles as
/// [`solicitation::handle_mentions`] makes them, so that neither is folded again. A
/// post too short to tell its language ("Colis perdu, honteux") is read in
/// `usual_lang`, the brand's, since most of its audience writes in it; its stored
/// language stays unknown.
pub fn analyze_folded(
    input: &Input<'_>,
    folded: &Folded,
    handle_mentions: &[Phrase],
    values: &[ValueMatcher],
    usual_lang: Option<&str>,
) -> Analysis {
    let lang = input.lang.map(str::to_owned).or_else(|| lang::detect(input.text, &folded.words).map(str::to_owned));
    let sentiment = rated(sentiment::score(lang.as_deref().or(usual_lang), input.text, folded), input.rating);
    let value_stances = values::read(&folded.text, sentiment, values);
    // A review is written to the brand: one of one or two stars is a complaint to answer.
    let addressed =
        input.addressed || input.rating.is_some() || solicitation::names_handle(&folded.text, handle_mentions);
    let complaint = input.rating.is_some_and(|stars| stars <= 2);
    Analysis {
        is_solicitation: complaint || solicitation::detect(&folded.text, input.text, addressed, sentiment),
        lang,
        sentiment,
        value_tags: value_stances.iter().map(|r| r.value_id).collect(),
        value_stances,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_low_rating_is_a_complaint_whatever_its_words() {
        let review =
            |text: &str, rating| analyze(&Input { text, lang: Some("en"), addressed: false, rating }, &[], &[]);
        let one_star = review("The staff were lovely and the shop is beautiful", Some(1));
        assert!(one_star.sentiment <= -0.3 && one_star.is_solicitation, "{one_star:?}");
        let five_stars = review("Fine.", Some(5));
        assert!(five_stars.sentiment > 0.2 && !five_stars.is_solicitation, "{five_stars:?}");
        let unrated = review("The staff were lovely and the shop is beautiful", None);
        assert!(unrated.sentiment > 0.0 && !unrated.is_solicitation);
        assert_eq!(rated(0.4, Some(9)), rated(0.4, Some(5)), "stars are bounded");
    }

    #[test]
    fn analyses_a_mention() {
        let plastic = ValueMatcher::new(crate::new_id(), "Zéro plastique", &["emballage".into(), "plastic".into()]);
        let fair = ValueMatcher::new(crate::new_id(), "Commerce équitable", &["équitable".into()]);
        let a = analyze(
            &Input {
                text: "@verdure_fr vous dites zéro PLASTIQUE mais mon colis en était plein, c'est honteux !",
                lang: None,
                addressed: false,
                rating: None,
            },
            &["verdure_fr".into()],
            &[plastic.clone(), fair],
        );
        assert_eq!(a.lang.as_deref(), Some("fr"));
        assert!(a.sentiment < -0.3, "{a:?}");
        assert_eq!(a.value_tags, vec![plastic.id]);
        assert_eq!(a.value_stances[0].stance, ValueStance::Accuses);
        assert!(a.is_solicitation);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Any text, in any script, with any declared language: an analysis with a
        /// sentiment in [-1, 1], and no panic.
        #[test]
        fn any_text_is_analysed(
            text in "\\PC{0,300}",
            lang in proptest::option::of("[a-z]{2}"),
            addressed in proptest::bool::ANY,
        ) {
            let values = [ValueMatcher::new(crate::new_id(), "Zéro plastique", &["emballage".into()])];
            let input = Input { text: &text, lang: lang.as_deref(), addressed, rating: None };
            let analysis = analyze(&input, &["verdure".into()], &values);
            proptest::prop_assert!((-1.0..=1.0).contains(&analysis.sentiment), "{}", analysis.sentiment);
        }
    }
}
