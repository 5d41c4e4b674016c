//! Calls to action against a brand, in French and English: a boycott, a petition,
//! "stop buying", "n'achetez plus", and hashtags that pair the brand's name with such a
//! call (`#BoycottVerdure`, `#StopVerdure`, `#VerdureOut`). Storing a mention about the
//! brand marks it (`mention.mobilises`) when it carries one and does not praise;
//! detection counts them against the brand's baseline.
//!
//! A call counts only within a few words of the brand's name ("Boycott Herbalia, buy
//! Verdure instead" calls against Herbalia), and a call word right after a negation or
//! a refusal does not ("I won't boycott Verdure", "je ne boycotte pas"). Phrases that
//! are ordinary elsewhere (contests' "spread the word", support's "cancel your order",
//! newsletters' "désabonnez-vous") are not calls.

use crate::platform::text::Folded;

/// Words that are a call by themselves (folded), unless negated.
const CALL_WORDS: &[&str] = &[
    "boycott",
    "boycotts",
    "boycotting",
    "boycotted",
    "boycotter",
    "boycottez",
    "boycottons",
    "boycotte",
    "boycottes",
    "boycottent",
    "boycottee",
    "boycottees",
    "petition",
    "petitions",
];

/// Words that, in the three before a call word, negate or refuse it.
const NEGATIONS: &[&str] =
    &["not", "won", "wont", "never", "refuse", "refuses", "against", "ne", "n", "pas", "jamais", "contre", "sans"];

/// Phrases that are a call (folded words, in order). Apostrophes split words, so
/// "don't" is `don t` and "n'achetez" is `n achetez`.
const CALL_PHRASES: &[&[&str]] = &[
    &["stop", "buying"],
    &["stop", "supporting"],
    &["don", "t", "buy"],
    &["dont", "buy"],
    &["do", "not", "buy"],
    &["never", "buy"],
    &["quit", "buying"],
    &["n", "achetez", "plus"],
    &["n", "achetez", "pas"],
    &["n", "achetons", "plus"],
    &["n", "achete", "plus"],
    &["arretez", "d", "acheter"],
    &["arretons", "d", "acheter"],
    &["arreter", "d", "acheter"],
    &["arrete", "d", "acheter"],
    &["ne", "plus", "acheter"],
    &["plus", "jamais", "acheter"],
];

/// How far (in words) a call may be from the brand's name.
const NEAR: usize = 8;

/// What a hashtag adds to the brand's name to call against it (folded, no spaces).
const HASHTAG_PREFIXES: &[&str] = &["boycott", "stop", "bye", "byebye", "ciao", "ban", "quit", "unfollow", "adieu"];
const HASHTAG_SUFFIXES: &[&str] = &["out", "mustfall", "boycott", "degage", "dehors"];

/// How calls against one brand read: its name, as words and as hashtags carry it.
#[derive(Clone, Debug, Default)]
pub struct Calls {
    /// The name's folded words (`["verdure"]`, `["la", "belle", "epoque"]`).
    words: Vec<String>,
    /// The name folded, letters and digits only (`verdure`, `labelleepoque`).
    compact: String,
}

impl Calls {
    /// The calls against a brand named `name` (its tracked keywords are not its name:
    /// `#NoFilter` is no call against a brand tracking "filter").
    pub fn new(name: &str) -> Self {
        let folded = Folded::new(name);
        Calls { compact: folded.words.concat(), words: folded.words }
    }

    /// Whether a folded text calls to act against the brand.
    pub fn in_text(&self, folded: &Folded) -> bool {
        if self.words.is_empty() {
            return false;
        }
        if self.compact.chars().count() >= 3 && hashtags(&folded.text).any(|tag| self.pairs(tag)) {
            return true;
        }
        let words = &folded.words;
        let named: Vec<usize> = (0..words.len()).filter(|&i| words[i..].starts_with(&self.words)).collect();
        let near =
            |at: usize, len: usize| named.iter().any(|&n| n + self.words.len() + NEAR >= at && n <= at + len + NEAR);
        let negated = |at: usize| words[at.saturating_sub(3)..at].iter().any(|w| NEGATIONS.contains(&w.as_str()));
        let word_call = (0..words.len()).any(|i| CALL_WORDS.contains(&words[i].as_str()) && !negated(i) && near(i, 1));
        word_call
            || CALL_PHRASES.iter().any(|phrase| {
                (0..words.len().saturating_sub(phrase.len() - 1)).any(|i| {
                    words[i..i + phrase.len()].iter().map(String::as_str).eq(phrase.iter().copied())
                        && near(i, phrase.len())
                })
            })
    }

    /// Whether a hashtag pairs the brand's name with a call (`boycottverdure`,
    /// `verdureout`).
    fn pairs(&self, tag: &str) -> bool {
        let tag: String = tag.chars().filter(|c| *c != '_').collect();
        let name = self.compact.as_str();
        HASHTAG_PREFIXES.iter().any(|p| tag.strip_prefix(p).is_some_and(|rest| rest == name))
            || tag.strip_prefix(name).is_some_and(|rest| HASHTAG_SUFFIXES.contains(&rest))
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
    use crate::platform::text::fold;

    fn calls(text: &str) -> bool {
        Calls::new("Verdure").in_text(&Folded::new(text))
    }

    #[test]
    fn calls_to_action_in_french_and_english() {
        for call in [
            "Boycottez Verdure, ils mentent sur le plastique",
            "On boycotte Verdure à partir d'aujourd'hui",
            "J'ai signé la pétition contre Verdure",
            "N'achetez plus Verdure !",
            "Je n'achète plus Verdure depuis ce reportage",
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
            "#verdurelove #VerdureFail",
            "I won't boycott Verdure, they fixed it",
            "Je ne boycotte pas Verdure, ils ont corrigé",
            "Boycott Herbalia, they lie. I switched to a great brand last year and honestly Verdure is fine",
            "Spread the word: Verdure contest, win a box!",
            "How do I cancel my Verdure order? Désabonnez-vous en bas de page",
            "#boycott",
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
