//! How much a mention is about its brand, in [0, 1], from what the brand declares:
//! its name and tracked keywords (0.6), its handles, or a reply or direct message to it
//! (0.3), and its sector (0.1). Matching ignores case and accents.

use crate::entities::brand;
use crate::text::{contains_words, fold};

/// The relevance of `text` to `brand`; `addressed` is a reply or direct message to it.
pub fn score(brand: &brand::Model, text: &str, addressed: bool) -> f64 {
    let folded = fold(text);
    let named = std::iter::once(brand.name.as_str())
        .chain(brand.tracked_keywords.0.iter().map(String::as_str))
        .any(|k| contains_words(&folded, &fold(k)));
    let handle = addressed
        || brand.handles.0.iter().any(|h| {
            let handle = fold(&h.handle);
            contains_words(&folded, &format!("@{handle}")) || contains_words(&folded, &handle)
        });
    let sector = brand.sector.as_deref().is_some_and(|s| contains_words(&folded, &fold(s)));
    let score =
        0.6 * f64::from(u8::from(named)) + 0.3 * f64::from(u8::from(handle)) + 0.1 * f64::from(u8::from(sector));
    (score * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{Handle, Handles, StringList};

    fn brand() -> brand::Model {
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
            escalation_emails: StringList::default(),
            contact_cadence: Default::default(),
            digest_frequency: "weekly".into(),
            last_digest_at: None,
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
