//! How well Vigie tells an accusation of failing a stated value from praise and from a
//! mere mention, on labelled posts: `lang<TAB>value name<TAB>keywords (|-separated)
//! <TAB>ACCUSES|PRAISES|MENTIONS<TAB>text` files. Prints, per language, the confusion
//! matrix, macro-F1 and the precision and recall of accusations (what value-gap alerts
//! rest on), then the misread posts with `--errors`.
//!
//! ```sh
//! cargo run --release -p vigie-bench --bin value-stance-eval -- [--errors] FILE…
//! ```

use std::collections::BTreeMap;
use vigie_bench::labelled::Confusion;
use vigie_domain::scoring::{Input, ValueMatcher, ValueStance, analyze};

const LABELS: [&str; 3] = ["ACCUSES", "PRAISES", "MENTIONS"];

fn index(stance: ValueStance) -> usize {
    match stance {
        ValueStance::Accuses => 0,
        ValueStance::Praises => 1,
        ValueStance::Mentions => 2,
    }
}

fn main() {
    let mut errors = false;
    let mut paths = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--errors" { errors = true } else { paths.push(arg) }
    }
    assert!(!paths.is_empty(), "usage: value-stance-eval [--errors] FILE…");
    let mut per_lang: BTreeMap<String, Confusion> = BTreeMap::new();
    let mut untouched = 0;
    let mut misread = Vec::new();
    for path in &paths {
        let content = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for (n, line) in content.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [lang, value, keywords, label, text] = cols[..] else {
                panic!("{path}:{}: expected 5 tab-separated columns", n + 1);
            };
            let truth = LABELS.iter().position(|l| l.eq_ignore_ascii_case(label.trim()));
            let truth = truth.unwrap_or_else(|| panic!("{path}:{}: unknown label {label}", n + 1));
            let keywords: Vec<String> = keywords.split('|').map(|k| k.trim().to_owned()).collect();
            let matcher = ValueMatcher::new(uuid::Uuid::nil(), value, &keywords);
            let analysis = analyze(&Input { text, lang: Some(lang), addressed: false, rating: None }, &[], &[matcher]);
            // A post the value's words do not touch reads as a mere mention.
            let reading = analysis.value_stances.first();
            if reading.is_none() {
                untouched += 1;
            }
            let predicted = reading.map_or(2, |r| index(r.stance));
            per_lang.entry(lang.to_owned()).or_default().add(truth, predicted);
            if predicted != truth {
                let cues = reading.map(|r| r.cues.join(", ")).unwrap_or_default();
                misread.push(format!(
                    "{lang} {} read {} ({:+.2}; {cues}): {text}",
                    LABELS[truth], LABELS[predicted], analysis.sentiment
                ));
            }
        }
    }
    for (lang, confusion) in &per_lang {
        let m = &confusion.0;
        let predicted_accusations: usize = (0..3).map(|t| m[t][0]).sum();
        let accusations: usize = m[0].iter().sum();
        let precision = m[0][0] as f64 / predicted_accusations.max(1) as f64;
        let recall = m[0][0] as f64 / accusations.max(1) as f64;
        println!(
            "{lang}: {} posts, macro-F1 {:.3}, accuracy {:.3}; accusations: precision {precision:.3}, recall {recall:.3}",
            confusion.total(),
            confusion.macro_f1(),
            confusion.accuracy()
        );
        println!("  truth \\ read   ACCUSES PRAISES MENTIONS");
        for (t, row) in m.iter().enumerate() {
            println!("  {:<14} {:>7} {:>7} {:>8}", LABELS[t], row[0], row[1], row[2]);
        }
    }
    println!("posts the value's words did not touch (read as mentions): {untouched}");
    if errors {
        for line in misread {
            println!("{line}");
        }
    }
}
