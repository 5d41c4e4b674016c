//! Solicitations: a mention that addresses the brand (a reply to one of its accounts, a
//! direct message, or its handle in the text) and asks, requests or complains. Each becomes a ticket (the
//! inbox issue) with a priority from the author's tier and the mention's sentiment.

use serde::{Deserialize, Serialize};

use super::influence::Tier;
use crate::platform::text::Phrase;
use std::sync::LazyLock;

/// How fast a solicitation needs an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// The priority of a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent].into_iter().find(|p| p.as_str() == name)
    }
}

/// Folded phrases that ask or request, in English and French.
const ASKS: &[&str] = &[
    "please",
    "pls",
    "plz",
    "help",
    "can you",
    "could you",
    "would you",
    "how do i",
    "how can i",
    "when will",
    "where is",
    "why is",
    "why does",
    "why did",
    "refund",
    "fix",
    "dm me",
    "contact me",
    "still waiting",
    "still no",
    "no answer",
    "no reply",
    "any update",
    "cancel",
    "svp",
    "stp",
    "s il vous plait",
    "aidez",
    "aide",
    "pouvez vous",
    "pourriez vous",
    "comment faire",
    "comment on",
    "quand est ce",
    "ou est",
    "pourquoi",
    "rembourse",
    "remboursement",
    "reglez",
    "contactez",
    "j attends",
    "toujours pas",
    "aucune reponse",
    "personne ne repond",
    "annuler",
    "resilier",
    "une question",
    "a question",
];

/// [`ASKS`] with their searchers built once.
static ASK_PHRASES: LazyLock<Vec<Phrase>> = LazyLock::new(|| ASKS.iter().map(|a| Phrase::new(a)).collect());

/// Sentiment at or under which a mention complains even without asking anything.
pub const COMPLAINT: f64 = -0.3;

/// Whether a mention is a solicitation: addressed to the brand, and asking or complaining.
pub fn detect(folded: &str, raw: &str, addressed: bool, sentiment: f64) -> bool {
    addressed && (raw.contains('?') || ASK_PHRASES.iter().any(|a| a.is_in(folded)) || sentiment <= COMPLAINT)
}

/// How a text names each of the brand's handles (`@verdure_fr`), folded: what
/// [`names_handle`] looks for, made once per brand.
pub fn handle_mentions(handles: &[String]) -> Vec<Phrase> {
    handles
        .iter()
        .map(|h| crate::platform::text::fold(h.trim_start_matches('@')))
        .filter(|h| !h.is_empty())
        .map(|h| Phrase::new(&format!("@{h}")))
        .collect()
}

/// Whether the folded text names one of the brand's handles, given as
/// [`handle_mentions`] makes them.
pub fn names_handle(folded: &str, mentions: &[Phrase]) -> bool {
    mentions.iter().any(|m| m.is_in(folded))
}

/// Sentiment at or under which a solicitation reads as angry.
pub const ANGRY: f64 = -0.6;

/// The priority of a solicitation: big audiences and anger first.
pub fn priority(tier: Tier, sentiment: f64) -> Priority {
    if tier >= Tier::Macro || (tier >= Tier::Mid && sentiment <= ANGRY) {
        Priority::Urgent
    } else if tier >= Tier::Mid || sentiment <= COMPLAINT {
        Priority::High
    } else if tier == Tier::Nano && sentiment >= 0.3 {
        Priority::Low
    } else {
        Priority::Normal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::text::fold;

    fn sol(text: &str, addressed: bool, sentiment: f64) -> bool {
        detect(&fold(text), text, addressed, sentiment)
    }

    #[test]
    fn detects_and_prioritises() {
        assert!(sol("Where is my order?", true, 0.0));
        assert!(sol("remboursez-moi svp", true, 0.0));
        assert!(sol("Service nul", true, -0.6));
        assert!(!sol("Where is my order?", false, 0.0), "not addressed to the brand");
        assert!(!sol("Thanks, lovely day", true, 0.7), "addressed but neither asks nor complains");
        assert!(names_handle("merci @verdure_fr !", &handle_mentions(&["@Verdure_FR".into()])));
        assert!(!names_handle("merci @verdure_france", &handle_mentions(&["verdure_fr".into()])));
        assert!(handle_mentions(&["@".into(), "".into()]).is_empty());
        assert_eq!(priority(Tier::Mega, 0.5), Priority::Urgent);
        assert_eq!(priority(Tier::Mid, -0.7), Priority::Urgent);
        assert_eq!(priority(Tier::Mid, 0.0), Priority::High);
        assert_eq!(priority(Tier::Nano, -0.5), Priority::High);
        assert_eq!(priority(Tier::Micro, 0.0), Priority::Normal);
        assert_eq!(priority(Tier::Nano, 0.6), Priority::Low);
    }
}
