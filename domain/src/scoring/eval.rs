//! Accuracy of the sentiment scorer on the labelled set in `domain/data/eval/`
//! (positive / neutral / negative). The floor below catches regressions; the figure
//! itself is printed (`cargo test -p vigie-domain scoring::eval -- --nocapture`) and
//! reported in the README.

use super::{Input, analyze};

fn label(sentiment: f64) -> &'static str {
    super::sentiment::SentimentClass::of(sentiment).short()
}

#[test]
fn sentiment_accuracy_on_the_labelled_set() {
    let data = include_str!("../../data/eval/sentiment.tsv");
    let mut total = 0;
    let mut right = 0;
    let mut per_lang: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let mut detected_right = 0;
    let mut misses = Vec::new();
    for line in data.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let mut fields = line.splitn(3, '\t');
        let (Some(lang), Some(expected), Some(text)) = (fields.next(), fields.next(), fields.next()) else {
            panic!("bad line: {line}");
        };
        // The language is detected, as for mentions that come without one.
        let analysis = analyze(&Input { text, lang: None, addressed: false, rating: None }, &[], &[]);
        detected_right += usize::from(analysis.lang.as_deref() == Some(lang));
        let got = label(analysis.sentiment);
        let entry = per_lang.entry(lang).or_default();
        entry.0 += 1;
        total += 1;
        if got == expected {
            right += 1;
            entry.1 += 1;
        } else {
            misses.push(format!("{lang} {expected}→{got} ({:+.2}) {text}", analysis.sentiment));
        }
    }
    let accuracy = right as f64 / total as f64;
    println!("sentiment accuracy: {right}/{total} = {:.1} %", accuracy * 100.0);
    for (lang, (n, ok)) in &per_lang {
        println!("  {lang}: {ok}/{n} = {:.1} %", *ok as f64 / *n as f64 * 100.0);
    }
    println!("language detected right: {detected_right}/{total}");
    for miss in &misses {
        println!("  miss: {miss}");
    }
    assert!(total >= 200, "the set must hold at least 200 mentions");
    assert!(accuracy >= 0.8, "sentiment accuracy fell to {:.1} %", accuracy * 100.0);
    assert!(detected_right as f64 >= 0.95 * total as f64, "language detection fell to {detected_right}/{total}");
}
