//! What storing a mention computes before its insert, on one core: language, sentiment,
//! values, solicitation, brand relevance and the words kept for full-text search, over
//! the labelled evaluation set (`domain/data/eval/sentiment.tsv`, French and English),
//! as [`vigie_domain::mentions::store`] runs it for each mention of a push.
//!
//! ```sh
//! cargo build --release -p vigie-bench
//! target/release/scoring [rounds]   # default 200
//! ```

use std::hint::black_box;
use std::time::Instant;
use vigie_domain::entities::{Cadence, Handle, Handles, StringList, brand};
use vigie_domain::mentions::pipeline::Lexicon;
use vigie_domain::scoring::{Input, ValueMatcher};

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(200, |a| a.parse().expect("a number of rounds"));
    let texts: Vec<&str> = include_str!("../../domain/data/eval/sentiment.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.splitn(3, '\t').nth(2))
        .collect();
    let brand = verdure();
    let values = [
        ValueMatcher::new(vigie_domain::new_id(), "Zéro plastique", &["emballage".into(), "plastic".into()]),
        ValueMatcher::new(vigie_domain::new_id(), "Commerce équitable", &["équitable".into(), "fair trade".into()]),
        ValueMatcher::new(vigie_domain::new_id(), "Bien-être animal", &["cruelty free".into(), "vegan".into()]),
    ];
    let lexicon = Lexicon::new(&brand, values.to_vec());

    let run = |texts: &[&str]| {
        for (i, text) in texts.iter().enumerate() {
            let input = Input { text, lang: None, addressed: i % 4 == 0, rating: None };
            black_box(lexicon.read(&input, Some(1_000), "x", None));
        }
    };
    run(&texts);
    let started = Instant::now();
    for _ in 0..rounds {
        run(&texts);
    }
    let elapsed = started.elapsed();
    let per = elapsed.as_secs_f64() * 1e6 / (rounds * texts.len()) as f64;
    println!(
        "scoring: {} mentions ({} texts × {rounds}) in {:.2}s = {per:.2} µs a mention on one core",
        rounds * texts.len(),
        texts.len(),
        elapsed.as_secs_f64()
    );
}

/// The demo brand's declarations, as a brand's row holds them.
fn verdure() -> brand::Model {
    let at = chrono::Utc::now();
    let handle = |network, handle: &str| Handle { network, handle: handle.to_owned() };
    brand::Model {
        id: vigie_domain::new_id(),
        agency_id: vigie_domain::new_id(),
        name: "Verdure".to_owned(),
        sector: Some("cosmétique".to_owned()),
        tracked_keywords: StringList(vec!["shampoing solide".into(), "Verdure Bio".into(), "déodorant".into()]),
        handles: Handles(vec![
            handle(vigie_domain::Network::Mastodon, "verdure_fr"),
            handle(vigie_domain::Network::Bluesky, "verdure.bsky.social"),
        ]),
        time_zone: "Europe/Paris".to_owned(),
        language: "fr".to_owned(),
        discovery_threshold: 60,
        crisis_z_threshold: 3.0,
        crisis_min_count: 10,
        value_gap_min_count: 5,
        hold_min_severity: "high".into(),
        escalation_emails: StringList::default(),
        contact_cadence: Cadence::default(),
        digest_frequency: "off".to_owned(),
        last_digest_at: None,
        mention_retention_months: 24,
        created_at: at,
        updated_at: at,
    }
}
