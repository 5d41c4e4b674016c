//! Text helpers shared by relevance, scoring and search: folding (lower case, no
//! accents), whole-word matching, word splitting and HTML stripping.

use unicode_normalization::UnicodeNormalization;

/// Lower-cases and strips accents (`Écologie` → `ecologie`).
pub fn fold(text: &str) -> String {
    text.nfd().filter(|c| !('\u{0300}'..='\u{036f}').contains(c)).flat_map(char::to_lowercase).collect()
}

/// Whether `needle` occurs in `haystack` as whole words (both already folded).
pub fn contains_words(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        !word(before) && !word(after)
    })
}

/// The folded words of `text`; apostrophes and hyphens split words (`n'est` → `n`, `est`).
pub fn words(text: &str) -> Vec<String> {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// The text of an HTML fragment (Mastodon statuses, feed summaries): tags dropped,
/// `<br>` and paragraph ends turned into spaces, common entities decoded.
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        match rest[open..].find('>') {
            Some(close) => {
                let tag = rest[open + 1..open + close].trim_start_matches('/').to_ascii_lowercase();
                if tag.starts_with("br") || tag.starts_with('p') || tag.starts_with("div") || tag.starts_with("li") {
                    out.push(' ');
                }
                rest = &rest[open + close + 1..];
            }
            None => {
                // Not a tag: a stray `<` in text that was not escaped.
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail.find(';').filter(|end| *end <= 10);
        let decoded = end.and_then(|end| {
            let name = &tail[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ if name.starts_with("#x") || name.starts_with("#X") => {
                    u32::from_str_radix(&name[2..], 16).ok().and_then(char::from_u32)
                }
                _ if name.starts_with('#') => name[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_splits_and_strips() {
        assert_eq!(fold("Écologie ZÉRO"), "ecologie zero");
        assert!(contains_words("le zero dechet", "zero dechet"));
        assert!(!contains_words("verdurette", "verdure"));
        assert_eq!(words("C'est pas-mal, VRAIMENT !"), ["c", "est", "pas", "mal", "vraiment"]);
        assert_eq!(
            strip_html("<p>Hello <a href=\"x\">@brand</a>&amp; co<br/>l&#39;été&nbsp;!</p><p>Bye"),
            "Hello @brand& co l'été ! Bye"
        );
        assert_eq!(strip_html("a < b & c"), "a < b & c");
    }
}
