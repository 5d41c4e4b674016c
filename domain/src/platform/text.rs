//! Text helpers shared by relevance, scoring and search: folding (lower case, no
//! accents), whole-word matching, word splitting and HTML stripping.

use unicode_normalization::UnicodeNormalization;

/// Lower-cases, strips accents, unfolds ligatures and compatibility forms: `Écologie` →
/// `ecologie`, `cœur` → `coeur`, the mathematical bold `𝐁𝐫𝐚𝐯𝐨` people use for emphasis
/// → `bravo`, `ﬁn` → `fin`. Emoji are left as they are.
pub fn fold(text: &str) -> String {
    // ASCII has nothing to decompose: the same result, without the decomposition's work
    // on every character.
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !('\u{0300}'..='\u{036f}').contains(c)) {
        // Ligatures that are letters of their own in Unicode, which NFKD keeps.
        match c {
            'œ' | 'Œ' => out.push_str("oe"),
            'æ' | 'Æ' => out.push_str("ae"),
            'ß' | 'ẞ' => out.push_str("ss"),
            _ => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// A text folded once, with its words: what every matcher of a mention reads, so that
/// storing a mention folds its text once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    /// The whole text, folded ([`fold`]).
    pub text: String,
    /// Its words ([`words`]).
    pub words: Vec<String>,
}

impl Folded {
    /// Folds `raw` and splits it into words.
    pub fn new(raw: &str) -> Self {
        let text = fold(raw);
        let words = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect();
        Folded { text, words }
    }
}

/// A folded word or phrase to find as whole words in folded texts, its searcher built
/// once: a brand's terms are looked for in every mention of a batch, and building a
/// searcher for every look was a sixth of scoring's CPU (`perf` of the `scoring` bench).
#[derive(Clone, Debug)]
pub struct Phrase {
    finder: memchr::memmem::Finder<'static>,
}

impl Phrase {
    /// The phrase `needle` (already folded). An empty one is found nowhere.
    pub fn new(needle: &str) -> Self {
        Phrase { finder: memchr::memmem::Finder::new(needle.as_bytes()).into_owned() }
    }

    /// Whether the phrase occurs in `haystack` (folded) as whole words.
    pub fn is_in(&self, haystack: &str) -> bool {
        let needle = self.finder.needle();
        if needle.is_empty() {
            return false;
        }
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
        // Every match, overlapping ones included (`match_indices` skips those), so that
        // a match inside a longer word cannot hide a whole one that overlaps it.
        let mut from = 0;
        while let Some(found) = self.finder.find(&haystack.as_bytes()[from..]) {
            let at = from + found;
            let end = at + needle.len();
            // A match of valid UTF-8 in valid UTF-8 starts and ends on char boundaries.
            let before = haystack.get(..at).and_then(|h| h.chars().next_back());
            let after = haystack.get(end..).and_then(|h| h.chars().next());
            if !word(before) && !word(after) {
                return true;
            }
            from = at + haystack[at..].chars().next().map_or(1, char::len_utf8);
        }
        false
    }
}

/// A handle as authors' handles are stored: lower case, without the leading `@`
/// (`@Verdure@Mastodon.social` → `verdure@mastodon.social`).
pub fn normalise_handle(handle: &str) -> String {
    handle.trim().trim_start_matches('@').to_lowercase()
}

/// The folded words of `text`; apostrophes and hyphens split words (`n'est` → `n`, `est`).
pub fn words(text: &str) -> Vec<String> {
    Folded::new(text).words
}

/// Whether `link` is an absolute http(s) URL with a host: the only links Vigie stores
/// from outside and renders.
pub fn is_web_link(link: &str) -> bool {
    url::Url::parse(link).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// The text of an HTML fragment (Mastodon statuses, feed summaries): tags dropped,
/// `<br>` and paragraph ends turned into spaces, every HTML entity decoded (named ones
/// such as `&rsquo;` and `&eacute;` included).
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
    let decoded = html_escape::decode_html_entities(&out);
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_web_links_pass() {
        for good in ["https://mastodon.social/@lou", "http://example.com/a?b#c"] {
            assert!(is_web_link(good), "{good}");
        }
        for bad in
            ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "/relative", "ftp://x/", "https://"]
        {
            assert!(!is_web_link(bad), "{bad}");
        }
    }

    #[test]
    fn folds_splits_and_strips() {
        assert_eq!(fold("Écologie ZÉRO"), "ecologie zero");
        assert_eq!(fold("Plain ASCII, MIXED case!"), "plain ascii, mixed case!");
        assert_eq!(fold("Déçu, ÇA SUFFIT"), "decu, ca suffit");
        assert_eq!(Folded::new("C'est pas-mal").words, words("C'est pas-mal"));
        let found = |haystack: &str, needle: &str| Phrase::new(needle).is_in(haystack);
        assert!(found("le zero dechet", "zero dechet"));
        assert!(!found("verdurette", "verdure"));
        assert!(found("verdurette puis verdure", "verdure"));
        assert!(found("xab ab ab", "ab ab"), "a match inside a word does not hide an overlapping one");
        assert!(found("déjà @verdure_fr", "@verdure_fr"));
        assert!(!found("anything", ""));
        assert_eq!(words("C'est pas-mal, VRAIMENT !"), ["c", "est", "pas", "mal", "vraiment"]);
        assert_eq!(
            strip_html("<p>Hello <a href=\"x\">@brand</a>&amp; co<br/>l&#39;été&nbsp;!</p><p>Bye"),
            "Hello @brand& co l'été ! Bye"
        );
        assert_eq!(strip_html("a < b & c"), "a < b & c");
    }

    #[test]
    fn every_entity_is_decoded() {
        // As WordPress and news feeds write their summaries.
        let summary = "<p>L&rsquo;&eacute;t&eacute; de Verdure&nbsp;: &laquo;&#160;c&#8217;est top&#x202F;&raquo;&hellip; &amp;co &mdash; &AElig;</p>";
        assert_eq!(strip_html(summary), "L’été de Verdure : « c’est top »… &co — Æ");
        assert_eq!(words(&strip_html(summary))[..4], ["l", "ete", "de", "verdure"]);
        assert_eq!(strip_html("&notanentity; &#xZZ; &"), "&notanentity; &#xZZ; &");
    }

    #[test]
    fn ligatures_and_compatibility_forms_fold_to_plain_letters() {
        assert_eq!(fold("Cœur ŒUVRE ex æquo Straße"), "coeur oeuvre ex aequo strasse");
        assert_eq!(fold("𝐁𝐫𝐚𝐯𝐨 𝓿𝓮𝓻𝓭𝓾𝓻𝓮 ＶＥＲＤＵＲＥ ﬁn"), "bravo verdure verdure fin");
        assert!(Phrase::new("coeur").is_in(&fold("J'ai le cœur brisé")));
        // Emoji, ZWJ sequences and skin tones included, come through whole.
        for emoji in ["👩‍👩‍👧", "👍🏽", "❤️", "🏳️‍🌈"] {
            assert_eq!(fold(emoji), emoji);
        }
    }
}
