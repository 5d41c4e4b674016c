//! How much a mention is about its brand, in [0, 1], from what the brand declares:
//! its name and tracked keywords (0.6), its handles, or a reply or direct message to it
//! (0.3), and its sector (0.1). Matching ignores case and accents.

use crate::entities::brand;
use crate::platform::text::{Phrase, fold};

/// What a brand declares, folded once for all the mentions of a batch.
#[derive(Clone, Debug)]
pub struct Terms {
    /// The brand's name and tracked keywords.
    names: Vec<Phrase>,
    /// Each handle, with and without `@`.
    handles: Vec<Phrase>,
    sector: Option<Phrase>,
}

impl Terms {
    /// The terms of `brand`.
    pub fn new(brand: &brand::Model) -> Self {
        let names = std::iter::once(brand.name.as_str())
            .chain(brand.tracked_keywords.0.iter().map(String::as_str))
            .map(|k| Phrase::new(&fold(k)))
            .collect();
        let handles = brand
            .handles
            .0
            .iter()
            .map(|h| fold(&h.handle))
            .flat_map(|handle| [Phrase::new(&format!("@{handle}")), Phrase::new(&handle)])
            .collect();
        Terms { names, handles, sector: brand.sector.as_deref().map(|s| Phrase::new(&fold(s))) }
    }

    /// Whether a folded text names the brand: its name, a tracked keyword or a handle.
    pub fn names_brand(&self, folded: &str) -> bool {
        self.names.iter().chain(&self.handles).any(|k| k.is_in(folded))
    }
}

/// The relevance of `text` to `brand`; `addressed` is a reply to one of its accounts or
/// a direct message to it.
pub fn score(brand: &brand::Model, text: &str, addressed: bool) -> f64 {
    score_folded(&Terms::new(brand), &fold(text), addressed)
}

/// [`score`], with the brand's terms and the text already folded.
pub fn score_folded(terms: &Terms, folded: &str, addressed: bool) -> f64 {
    let named = terms.names.iter().any(|k| k.is_in(folded));
    let handle = addressed || terms.handles.iter().any(|h| h.is_in(folded));
    let sector = terms.sector.as_ref().is_some_and(|s| s.is_in(folded));
    let score =
        0.6 * f64::from(u8::from(named)) + 0.3 * f64::from(u8::from(handle)) + 0.1 * f64::from(u8::from(sector));
    (score * 100.0).round() / 100.0
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::entities::{Handle, Handles, StringList};

    /// A French cosmetics brand, for unit tests.
    pub(crate) fn brand() -> brand::Model {
        brand::Model {
            id: crate::new_id(),
            agency_id: crate::new_id(),
            name: "Verdure".into(),
            sector: Some("cosmétique".into()),
            tracked_keywords: StringList(vec!["zéro déchet".into()]),
            handles: Handles(vec![Handle { network: crate::Network::X, handle: "verdure_fr".into() }]),
            time_zone: "Europe/Paris".into(),
            language: "fr".into(),
            discovery_threshold: 60,
            crisis_z_threshold: 3.0,
            crisis_min_count: 10,
            value_gap_min_count: 3,
            hold_min_severity: "high".into(),
            escalation_emails: StringList::default(),
            contact_cadence: Default::default(),
            digest_frequency: "weekly".into(),
            last_digest_at: None,
            mention_retention_months: 24,
            created_at: crate::now(),
            updated_at: crate::now(),
        }
    }

    #[test]
    fn scores() {
        let b = brand();
        assert_eq!(score(&b, "J'adore VERDURE !", false), 0.6);
        assert_eq!(score(&b, "@verdure_fr le zero dechet en cosmetique", false), 1.0);
        assert_eq!(score(&b, "Merci pour la réponse", true), 0.3);
        assert_eq!(score(&b, "verdurette n'a rien à voir", false), 0.0, "whole words only");
    }
}
