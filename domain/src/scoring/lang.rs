//! Language detection by function words: short posts rarely carry enough letters for
//! character statistics, but almost every sentence has a few articles or pronouns.

use std::collections::HashMap;
use std::sync::LazyLock;

/// Function words of the languages Vigie tells apart (folded: no accents). Sentiment is
/// scored for French and English; the others are recognised so that a Spanish post is
/// not read with the English lexicon.
const STOPWORDS: &[(&str, &[&str])] = &[
    (
        "en",
        &[
            "the", "and", "is", "are", "was", "were", "i", "you", "it", "to", "of", "in", "my", "for", "this", "that",
            "with", "on", "not", "be", "have", "has", "had", "just", "so", "they", "what", "at", "your", "me", "we",
            "our", "very", "but", "all", "from", "an", "its", "their", "will", "would", "can", "does", "did", "do",
            "if", "how", "which", "anyone", "after", "again", "never", "no", "any", "been", "t", "s", "m",
        ],
    ),
    (
        "fr",
        &[
            "le", "la", "les", "et", "est", "un", "une", "des", "du", "de", "je", "tu", "il", "elle", "nous", "vous",
            "ils", "pour", "pas", "qui", "dans", "sur", "avec", "mon", "ma", "mes", "ce", "cette", "c", "j", "n", "l",
            "d", "qu", "au", "aux", "tres", "mais", "ou", "leur", "leurs", "sont", "ca", "plus", "ont", "suis",
            "votre", "vos", "notre", "rien", "tout", "toujours", "jamais", "ai", "sa", "son", "ses", "m", "quel",
            "quelle",
        ],
    ),
    (
        "es",
        &[
            "el", "los", "las", "y", "es", "una", "por", "con", "para", "muy", "pero", "mi", "lo", "del", "yo", "esta",
            "este", "como", "mas", "hay", "tiene", "gracias",
        ],
    ),
    (
        "de",
        &[
            "der", "die", "das", "und", "ist", "nicht", "ich", "mit", "ein", "eine", "zu", "auf", "fur", "sehr", "den",
            "dem", "sie", "wir", "auch", "aber", "bei", "war", "nur",
        ],
    ),
];

/// For each function word, the positions in [`STOPWORDS`] of the languages it belongs to
/// (`de` is French and Spanish): one lookup a word instead of a scan of every list.
static LANGUAGES_OF: LazyLock<HashMap<&'static str, Vec<usize>>> = LazyLock::new(|| {
    let mut map: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (position, (_, words)) in STOPWORDS.iter().enumerate() {
        for word in *words {
            let languages = map.entry(*word).or_default();
            if !languages.contains(&position) {
                languages.push(position);
            }
        }
    }
    map
});

/// Whether a folded word is a function word of a known language (no meaning of its own:
/// left out of an alert's top terms).
pub fn is_function_word(word: &str) -> bool {
    LANGUAGES_OF.contains_key(word)
}

/// The most likely ISO 639-1 code of `words` (folded), or `None` when nothing tells.
pub fn detect(raw: &str, words: &[String]) -> Option<&'static str> {
    let mut counts: Vec<(&'static str, usize)> = STOPWORDS.iter().map(|(lang, _)| (*lang, 0)).collect();
    for position in words.iter().filter_map(|w| LANGUAGES_OF.get(w.as_str())).flatten() {
        counts[*position].1 += 1;
    }
    // French accents settle a tie between French and English (`café`, `déçu`).
    if raw.chars().any(|c| matches!(c, 'é' | 'è' | 'ê' | 'à' | 'ç' | 'ù' | 'û' | 'ô' | 'î' | 'É'))
        && let Some(fr) = counts.iter_mut().find(|(lang, _)| *lang == "fr")
    {
        fr.1 += 1;
    }
    counts.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
    match counts.as_slice() {
        [(lang, best), (_, second), ..] if *best > 0 && best > second => Some(lang),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::text::words;

    fn lang(text: &str) -> Option<&'static str> {
        detect(text, &words(text))
    }

    #[test]
    fn tells_languages_apart() {
        assert_eq!(lang("Le service client est nul"), Some("fr"));
        assert_eq!(lang("The customer service is awful"), Some("en"));
        assert_eq!(lang("Déçu"), Some("fr"));
        assert_eq!(lang("El servicio es muy malo"), Some("es"));
        assert_eq!(lang("Der Service ist nicht gut"), Some("de"));
        assert_eq!(lang("👍👍"), None);
    }
}
