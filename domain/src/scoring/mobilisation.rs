//! Calls to action against a brand, in French and English: a boycott, a petition,
//! "stop buying", "n'achetez plus", unfollowing or uninstalling, and hashtags that pair
//! the brand with such a call (`#BoycottVerdure`, `#StopVerdure`, `#VerdureOut`).
//! Storing a mention about the brand marks it (`mention.mobilises`) when it carries
//! one and does not praise; detection counts them against the brand's baseline.
//!
//! Single words that only call to action ("boycott", "pétition") count as they are;
//! verbs that are ordinary on their own ("stop", "buy") count only in the phrases that
//! make them a call.

use crate::platform::text::{Folded, fold};

/// Words that are a call by themselves (folded).
const CALL_WORDS: &[&str] = &[
    "boycott",
    "boycotts",
    "boycotting",
    "boycotter",
    "boycottez",
    "boycottons",
    "boycottage",
    "petition",
    "petitions",
    "unfollow",
    "desabonnez",
    "desabonnons",
    "desinstallez",
];

/// Phrases that are a call (folded words, in order). Apostrophes split words, so
/// "don't" is `don t` and "n'achetez" is `n achetez`.
const CALL_PHRASES: &[&[&str]] = &[
    &["stop", "buying"],
    &["stop", "using"],
    &["stop", "supporting"],
    &["don", "t", "buy"],
    &["dont", "buy"],
    &["do", "not", "buy"],
    &["never", "buy"],
    &["quit", "buying"],
    &["cancel", "your"],
    &["delete", "your", "account"],
    &["uninstall"],
    &["spread", "the", "word"],
    &["n", "achetez", "plus"],
    &["n", "achetez", "pas"],
    &["n", "achetons", "plus"],
    &["arretez", "d", "acheter"],
    &["arretons", "d", "acheter"],
    &["arreter", "d", "acheter"],
    &["arrete", "d", "acheter"],
    &["ne", "plus", "acheter"],
    &["plus", "jamais", "acheter"],
    &["resiliez"],
    &["faites", "tourner"],
    &["partagez", "massivement"],
];

/// What a hashtag adds to the brand's name to call against it (folded, no spaces).
const HASHTAG_PREFIXES: &[&str] =
    &["boycott", "stop", "bye", "byebye", "ciao", "no", "ban", "quit", "unfollow", "adieu"];
const HASHTAG_SUFFIXES: &[&str] = &["out", "mustfall", "boycott", "degage", "dehors", "fail", "shame", "honte"];

/// A brand's names as hashtags carry them: folded, letters and digits only.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    names: Vec<String>,
}

impl Calls {
    /// The calls against a brand known by `names` (its name and tracked keywords).
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names = names
            .into_iter()
            .map(|n| fold(n).chars().filter(|c| c.is_alphanumeric()).collect::<String>())
            .filter(|n| n.chars().count() >= 3)
            .collect();
        Calls { names }
    }

    /// Whether a folded text calls to act against the brand.
    pub fn in_text(&self, folded: &Folded) -> bool {
        let words = &folded.words;
        words.iter().any(|w| CALL_WORDS.contains(&w.as_str()))
            || CALL_PHRASES.iter().any(|phrase| {
                words.windows(phrase.len()).any(|w| w.iter().map(String::as_str).eq(phrase.iter().copied()))
            })
            || hashtags(&folded.text).any(|tag| self.pairs(tag))
    }

    /// Whether a hashtag pairs the brand with a call (`boycottverdure`, `verdureout`),
    /// or calls to boycott at all.
    fn pairs(&self, tag: &str) -> bool {
        let tag: String = tag.chars().filter(|c| *c != '_').collect();
        tag.starts_with("boycott")
            || self.names.iter().any(|name| {
                HASHTAG_PREFIXES.iter().any(|p| tag.strip_prefix(p).is_some_and(|rest| rest == name))
                    || tag.strip_prefix(name.as_str()).is_some_and(|rest| HASHTAG_SUFFIXES.contains(&rest))
            })
    }
}

/// The hashtags of a folded text, without `#`.
pub fn hashtags(folded: &str) -> impl Iterator<Item = &str> {
    folded.split('#').skip(1).filter_map(|rest| {
        let end = rest.find(|c: char| !c.is_alphanumeric() && c != '_').unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(text: &str) -> bool {
        Calls::new(["Verdure", "zéro déchet"]).in_text(&Folded::new(text))
    }

    #[test]
    fn calls_to_action_in_french_and_english() {
        for call in [
            "Boycottez Verdure, ils mentent sur le plastique",
            "J'ai signé la pétition contre Verdure",
            "N'achetez plus Verdure !",
            "On arrête d'acheter chez Verdure tant qu'ils testent sur les animaux",
            "Stop buying Verdure until they pay their workers",
            "Don't buy Verdure, seriously",
            "#BoycottVerdure",
            "Verdure encore une fois... #StopVerdure",
            "C'est fini pour moi #VerdureOut",
            "Sign the petition: Verdure must stop the animal testing",
        ] {
            assert!(calls(call), "{call}");
        }
        for ordinary in [
            "Stop! Verdure's new shampoo is amazing",
            "I buy Verdure every month",
            "Verdure delivery was slow and disappointing",
            "Le bouchon du flacon Verdure ne ferme plus",
            "#Verdure #NoFilter",
            "#verdurelove",
        ] {
            assert!(!calls(ordinary), "{ordinary}");
        }
    }

    #[test]
    fn hashtags_are_read_whole() {
        let folded = fold("Go #BoycottVerdure! and #stop_verdure, #");
        assert_eq!(hashtags(&folded).collect::<Vec<_>>(), ["boycottverdure", "stop_verdure"]);
    }
}
