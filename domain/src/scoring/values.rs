//! How a mention speaks of each value the brand states: it [`ValueStance::Accuses`] the
//! brand of failing it, [`ValueStance::Praises`] it, or merely [`ValueStance::Mentions`]
//! it. Only accusations are evidence of a value gap: a complaint about broken packaging
//! touches a "zero plastic" value's keywords without saying the brand betrays it.
//!
//! An accusation is one of, in French or English:
//! - hypocrisy or washing wording ("greenwashing", "hypocrites", "publicité mensongère",
//!   "du pipeau"), unless negated ("ce n'est pas du greenwashing"), aimed at others
//!   ("unlike other brands' greenwashing") or reported ("accusée de greenwashing, la
//!   marque dément");
//! - doubt or irony aimed at the claim: "soi-disant zéro plastique", "so much for
//!   cruelty free", "zéro plastique mon œil", "on paper", laughter or 🙄 next to the claim,
//!   scare quotes in a negative post;
//! - the claim set against experience: a claim word before the value ("se dit", "vous
//!   promettez", "they claim") and a contrast after it ("mais", "but", "alors que"), or
//!   a clearly negative tone;
//! - the quality denied in a post that is not positive ("pas du tout équitable", "not
//!   cruelty free at all").
//!
//! Cue words inside quotation marks are reported speech and count only in a negative
//! post, so a campaign quoting the brand's own claim is not an accusation. What is left
//! is praise when the tone is positive or praise words stand unnegated, else a mention.
//! These are rules, measured by `value-stance-eval` on posts written by people who never
//! saw them (docs/performance.md); alerts need several accusations in a day.

use uuid::Uuid;

use super::sentiment::NEUTRAL_BAND;
use crate::platform::text::fold;

pub use crate::entities::{ValueReading, ValueStance};

/// A stated brand value and the folded words that show a mention touches it.
#[derive(Clone, Debug)]
pub struct ValueMatcher {
    pub id: Uuid,
    /// Its name first, then its keywords, each as folded words.
    terms: Vec<Vec<String>>,
}

impl ValueMatcher {
    /// A matcher from a value's name and keywords.
    pub fn new(id: Uuid, name: &str, keywords: &[String]) -> Self {
        let terms = std::iter::once(name)
            .chain(keywords.iter().map(String::as_str))
            .map(split_words)
            .filter(|words| !words.is_empty())
            .collect();
        ValueMatcher { id, terms }
    }
}

fn split_words(text: &str) -> Vec<String> {
    fold(text).split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// Hypocrisy, washing and lying wording: an accusation wherever it stands.
const WASHING: &[&str] = &[
    "greenwashing",
    "greenwash",
    "greenwashed",
    "greenwasher",
    "greenwashers",
    "green washing",
    "pinkwashing",
    "bluewashing",
    "ethics washing",
    "ethicwashing",
    "social washing",
    "ecoblanchiment",
    "eco blanchiment",
    "hypocrite",
    "hypocrites",
    "hypocrisy",
    "hypocritical",
    "hypocrisie",
    "false advertising",
    "false claim",
    "false claims",
    "misleading",
    "deceptive",
    "lip service",
    "virtue signalling",
    "virtue signaling",
    "pr stunt",
    "publicity stunt",
    "marketing stunt",
    "marketing ploy",
    "empty promise",
    "empty promises",
    "broken promise",
    "broken promises",
    "broke their promise",
    "broke its promise",
    "smoke and mirrors",
    "window dressing",
    "double standard",
    "double standards",
    "liars",
    "lying to",
    "lying about",
    "lied to",
    "lied about",
    "mensonge",
    "mensonges",
    "mensonger",
    "mensongere",
    "mensongers",
    "mensongeres",
    "menteur",
    "menteurs",
    "menteuse",
    "menteuses",
    "vous mentez",
    "ils mentent",
    "trompeur",
    "trompeuse",
    "tromperie",
    "foutage de gueule",
    "poudre aux yeux",
    "de facade",
    "pure com",
    "que de la com",
    "coup de com",
    "operation de com",
    "du vent",
    "promesse non tenue",
    "promesses non tenues",
    "promesses en l air",
    "fausse promesse",
    "fausses promesses",
    "faux engagement",
    "faux engagements",
    "c est faux",
    "double discours",
    "deux poids deux mesures",
    "enfumage",
    "du pipeau",
    "c est bidon",
    "pure pr",
    "just pr",
    "cute marketing",
    "just marketing",
    "que du marketing",
    "c est du marketing",
    "nice try",
    "make it make sense",
    "pick one",
    "the irony",
    "l ironie",
    "sans vergogne",
    "shady",
    "fraud",
    "fraude",
    "you lied",
    "they lied",
    "nous prendre pour des",
    "nous prennent pour des",
    "on nous prend pour des",
    "vous nous prenez pour des",
    "se foutent de nous",
    "se moquent de nous",
    "you can t make this up",
    "do they think we can t read",
    "care to explain",
];

/// Doubt about the claim: an accusation when the value follows within a few words.
const DOUBT: &[&str] = &[
    "so called",
    "supposedly",
    "allegedly",
    "pretends to be",
    "pretend to be",
    "pretending to be",
    "claims to be",
    "claim to be",
    "claiming to be",
    "calls itself",
    "call themselves",
    "calling themselves",
    "supposed to be",
    "so much for",
    "nothing says",
    "marketing yourself as",
    "marketing themselves as",
    "soi disant",
    "pretendument",
    "se pretend",
    "se pretendent",
    "se targue",
    "se targuent",
    "se gargarise",
    "se gargarisent",
    "cense etre",
    "censee etre",
    "censes etre",
    "censees etre",
    "tant pis pour",
    "adieu le",
    "adieu la",
    "on repassera pour",
];

/// Irony right after the claim.
const IRONY_AFTER: &[&str] = &[
    "mon oeil",
    "mon cul",
    "my ass",
    "my foot",
    "yeah right",
    "tu parles",
    "c est ca",
    "qu ils disaient",
    "qu ils disent",
    "qu il disait",
    "qu elle disait",
    "they said",
    "pour qui",
    "for who",
    "for whom",
];

/// Emoji that read as mockery near a claim.
const MOCKING: &[char] = &['🙄', '🤡', '🙃', '😒', '🤥'];
/// Emoji that laugh: mockery right after a claim, in a post that is not positive.
const LAUGHING: &[char] = &['😂', '🤣'];
/// Emoji that praise, when nothing accuses.
const CHEERING: &[char] = &['😍', '🥰', '💚', '❤', '🙌', '👏'];
/// How near a claim laughter and mockery aim at it.
const MOCKERY_REACH: usize = 6;

/// Someone stating the claim: an accusation with a contrast after the value, or in a
/// clearly negative post.
const CLAIM: &[&str] = &[
    "says",
    "said",
    "talks about",
    "talking about",
    "preaches",
    "preaching",
    "dit",
    "disait",
    "disaient",
    "promettait",
    "promettaient",
    "communique sur",
    "communiquent sur",
    "claims",
    "claim",
    "claimed",
    "claiming",
    "promises",
    "promised",
    "pledged",
    "advertise",
    "advertises",
    "advertised",
    "brag",
    "brags",
    "boast",
    "boasts",
    "labelled",
    "labeled",
    "marketed",
    "se dit",
    "se disent",
    "se disant",
    "dites",
    "disent",
    "promet",
    "promettent",
    "promettez",
    "promis",
    "promesse",
    "promesses",
    "affiche",
    "affichent",
    "affichez",
    "revendique",
    "revendiquent",
    "revendiquez",
    "vante",
    "vantent",
    "vantez",
    "engagement",
    "engagements",
    "vous engagez",
    "s engage",
    "s engagent",
    "for a brand that",
    "for a company that",
    "pour une marque qui",
    "de la part d une marque qui",
];

/// A turn against what came before.
const CONTRAST: &[&str] = &[
    "mais",
    "pourtant",
    "alors que",
    "sauf que",
    "en fait",
    "en realite",
    "en vrai",
    "cependant",
    "n empeche",
    "but",
    "yet",
    "however",
    "whereas",
    "while",
    "actually",
    "in reality",
    "in fact",
    "turns out",
    "meanwhile",
    "and then",
    "et puis",
];

/// A quality denied: "pas du tout équitable", "not really vegan".
const DENIED: &[&str] = &[
    "pas du tout",
    "pas vraiment",
    "plus du tout",
    "plus vraiment",
    "loin d etre",
    "not at all",
    "not really",
    "not even",
    "no longer",
    "far from",
    "anything but",
    "that s not",
    "that is not",
    "c est pas",
];

/// Words that report someone else's accusation (news, a quoted complaint): what it
/// reports is not the post's own accusation.
const REPORTED: &[&str] = &[
    "accuse de",
    "accusee de",
    "accuses de",
    "accusees de",
    "accused of",
    "accusations de",
    "accusations of",
    "allegations",
    "dement les",
    "dement toute",
    "dementi",
    "denies the",
    "denies any",
    "denied the",
    "denied any",
    "affaire a suivre",
];

/// Irony after a claim: it holds in words only.
const ON_PAPER: &[&str] = &["sur le papier", "on paper", "en theorie", "in theory"];

/// Words that negate what follows within [`NEGATION_REACH`] words.
const NEGATORS: &[&str] = &[
    "pas",
    "n est plus",
    "ne sont plus",
    "n etes plus",
    "jamais",
    "aucun",
    "aucune",
    "ni",
    "loin",
    "not",
    "no",
    "never",
    "isn",
    "aren",
    "wasn",
    "weren",
    "don",
    "doesn",
    "didn",
    "hardly",
];
/// Words after a negator that undo it: "pas mal de" (a lot of), "nothing but", "rien
/// que" (nothing but).
const UNDOING: &[&str] = &["mal", "but", "que", "qu"];
const NEGATION_REACH: usize = 3;

/// Words that turn an accusation towards someone else.
const OTHERS: &[&str] = &[
    "contrairement",
    "unlike",
    "pas comme",
    "not like",
    "autres marques",
    "other brands",
    "other companies",
    "concurrents",
    "competitors",
    "les autres",
];
const OTHERS_REACH: usize = 8;

/// Words that praise how the brand keeps a value, whatever the model reads.
const KEEPS: &[&str] = &[
    "tient ses promesses",
    "tient sa promesse",
    "tiennent leurs promesses",
    "keeps its promise",
    "keeps their promise",
    "keeps its promises",
    "kept their promise",
    "walks the talk",
    "walk the talk",
    "pas du greenwashing",
    "not greenwashing",
    "pour de vrai",
    "for real",
    "actually mean it",
    "means something",
    "isn t just a slogan",
    "pas qu un slogan",
    "qui l est vraiment",
    "walk the walk",
    "walks the walk",
    "font ce qu ils disent",
    "do what they say",
    "practice what they preach",
    "coherent avec",
    "consistent with",
    "stand corrected",
    "done right",
    "actually done",
    "real deal",
    "way it should be",
    "isn t a buzzword",
    "just a tagline",
    "not just vibes",
];

/// Praise words: with no accusation, they make a post that is not clearly negative
/// praise the value (the model reads "cruelty free" as negative).
const PRAISE: &[&str] = &[
    "love",
    "loving",
    "great",
    "amazing",
    "awesome",
    "thank",
    "thanks",
    "kudos",
    "proud",
    "congrats",
    "bravo",
    "merci",
    "chapeau",
    "adore",
    "genial",
    "excellent",
    "parfait",
    "fier",
    "fiere",
    "felicitations",
    "respect",
    "well done",
    "legit",
    "impressed",
    "impressionne",
    "impressionnee",
    "plaisir",
    "loved",
    "worth every penny",
    "huge win",
    "marry me",
    "obsessed",
    "fidele",
    "recommande",
    "adorent",
    "tuerie",
];

/// How far after the value a contrast may stand.
const CONTRAST_REACH: usize = 40;
/// Occurrences of a value's terms read per mention: a post repeating a keyword a
/// thousand times costs no more than one that says it a few times.
const HITS_READ: usize = 8;

/// How far before the value a doubt or claim may stand.
const CLAIM_REACH: usize = 3;
const DOUBT_REACH: usize = 6;
/// A post at least this positive does not accuse by a claim and a contrast.
const CLEARLY_POSITIVE: f64 = 0.3;
/// A post at most this negative accuses by a claim alone.
const CLEARLY_NEGATIVE: f64 = -0.3;
/// A post this negative uses praise words in sarcasm ("great, broken again").
const SARCASTIC: f64 = -0.5;

/// One piece of a folded text: a word or a mark (emoji, `?`, `!`), and whether it
/// stands inside quotation marks.
struct Token<'a> {
    text: &'a str,
    word: bool,
    quoted: bool,
}

fn tokens(folded: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start: Option<usize> = None;
    for (i, c) in folded.char_indices() {
        if c.is_alphanumeric() {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            out.push(Token { text: &folded[s..i], word: true, quoted });
        }
        let before = folded[..i].chars().next_back();
        let after = folded[i + c.len_utf8()..].chars().next();
        match c {
            '"' => quoted = !quoted,
            '«' | '“' => quoted = true,
            '»' | '”' => quoted = false,
            // A single quote between letters is an apostrophe; at a word's edge, a quote.
            '\'' | '‘' | '’'
                if !before.is_some_and(char::is_alphanumeric) && after.is_some_and(char::is_alphanumeric) =>
            {
                quoted = true
            }
            '\'' | '‘' | '’'
                if before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric) =>
            {
                quoted = false
            }
            '?' | '!' => out.push(Token { text: &folded[i..i + 1], word: false, quoted }),
            c if MOCKING.contains(&c) || LAUGHING.contains(&c) || CHEERING.contains(&c) => {
                out.push(Token { text: &folded[i..i + c.len_utf8()], word: false, quoted })
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Token { text: &folded[s..], word: true, quoted });
    }
    out
}

/// Where a phrase of folded words starts and ends (exclusive) in the tokens.
fn find_all(tokens: &[Token<'_>], phrase: &[&str]) -> Vec<(usize, usize)> {
    let n = phrase.len();
    if n == 0 || tokens.len() < n {
        return Vec::new();
    }
    (0..=tokens.len() - n)
        .filter(|&i| tokens[i..i + n].iter().zip(phrase).all(|(t, w)| t.word && t.text == *w))
        .map(|i| (i, i + n))
        .collect()
}

/// Every occurrence of any phrase of a list: (start, end, phrase).
fn find_any(tokens: &[Token<'_>], list: &'static [&'static str]) -> Vec<(usize, usize, &'static str)> {
    let mut out = Vec::new();
    for phrase in list {
        let words: Vec<&str> = phrase.split(' ').collect();
        out.extend(find_all(tokens, &words).into_iter().map(|(s, e)| (s, e, *phrase)));
    }
    out
}

/// The negator that negates what starts at `at`, if any.
fn negated(tokens: &[Token<'_>], at: usize) -> Option<&'static str> {
    let from = at.saturating_sub(NEGATION_REACH);
    find_any(&tokens[from..at], NEGATORS)
        .into_iter()
        .filter(|(_, end, _)| tokens.get(from + end).is_none_or(|next| !UNDOING.contains(&next.text)))
        .min_by_key(|(start, _, _)| *start)
        .map(|(_, _, negator)| negator)
}

fn preceded_by(tokens: &[Token<'_>], at: usize, reach: usize, list: &'static [&'static str]) -> Option<&'static str> {
    let from = at.saturating_sub(reach);
    // The longest cue: "se dit" rather than the "dit" inside it.
    find_any(&tokens[from..at], list).into_iter().min_by_key(|(start, _, _)| *start).map(|(_, _, p)| p)
}

/// The wording of a whole mention that accuses, with where it stands.
struct Accusations {
    /// Washing cues that stand (not negated, not aimed at others, not merely quoted).
    washing: Vec<&'static str>,
    /// Washing cues that were negated: a defence.
    refuted: Vec<&'static str>,
    /// The post reports someone else's accusation.
    reported: bool,
    /// Words that say the brand keeps its values.
    keeps: Vec<&'static str>,
}

fn accusations(tokens: &[Token<'_>], sentiment: f64) -> Accusations {
    let mut washing = Vec::new();
    let mut refuted = Vec::new();
    if !find_any(tokens, REPORTED).is_empty() {
        return Accusations { washing, refuted, reported: true, keeps: keeps(tokens) };
    }
    for (start, end, cue) in find_any(tokens, WASHING) {
        if negated(tokens, start).is_some() {
            refuted.push(cue);
        } else if preceded_by(tokens, start, OTHERS_REACH, OTHERS).is_some()
            || (tokens[start..end].iter().all(|t| t.quoted) && sentiment > -NEUTRAL_BAND)
        {
            continue;
        } else if !washing.contains(&cue) {
            washing.push(cue);
        }
    }
    Accusations { washing, refuted, reported: false, keeps: keeps(tokens) }
}

fn keeps(tokens: &[Token<'_>]) -> Vec<&'static str> {
    find_any(tokens, KEEPS).into_iter().map(|(_, _, p)| p).collect()
}

/// How a mention (folded text, its sentiment) speaks of each value it touches; values
/// it does not touch get no reading.
pub fn read(folded_text: &str, sentiment: f64, values: &[ValueMatcher]) -> Vec<ValueReading> {
    if values.is_empty() {
        return Vec::new();
    }
    let tokens = tokens(folded_text);
    let mut whole: Option<Accusations> = None;
    let mut out = Vec::new();
    for value in values {
        let mut hits: Vec<(usize, usize, bool)> = Vec::new();
        for (i, term) in value.terms.iter().enumerate() {
            let words: Vec<&str> = term.iter().map(String::as_str).collect();
            hits.extend(find_all(&tokens, &words).into_iter().map(|(s, e)| (s, e, i == 0)));
        }
        hits.truncate(HITS_READ);
        let Some(&(first_start, first_end, _)) = hits.first() else { continue };
        let whole = whole.get_or_insert_with(|| accusations(&tokens, sentiment));
        let term_text = |s: usize, e: usize| tokens[s..e].iter().map(|t| t.text).collect::<Vec<_>>().join(" ");
        let mut cues: Vec<String> = Vec::new();
        let accused = whole.washing.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        let mut reading = if !accused.is_empty() {
            cues.push(term_text(first_start, first_end));
            cues.extend(accused);
            Some(ValueStance::Accuses)
        } else if whole.reported {
            None
        } else {
            hits.iter().find_map(|&(s, e, is_name)| {
                aimed_at_claim(&tokens, s, e, is_name, sentiment).map(|found| {
                    cues.push(term_text(s, e));
                    cues.extend(found);
                    ValueStance::Accuses
                })
            })
        };
        if reading.is_none() {
            cues.push(term_text(first_start, first_end));
            reading = Some(if !whole.keeps.is_empty() {
                cues.extend(whole.keeps.iter().map(|k| (*k).to_owned()));
                if sentiment > SARCASTIC { ValueStance::Praises } else { ValueStance::Mentions }
            } else if !whole.refuted.is_empty() {
                // A defence alone praises only in a post that is not negative.
                cues.extend(whole.refuted.iter().map(|r| format!("not {r}")));
                if sentiment > -NEUTRAL_BAND { ValueStance::Praises } else { ValueStance::Mentions }
            } else if whole.reported {
                cues.push("reported".into());
                ValueStance::Mentions
            } else if sentiment >= NEUTRAL_BAND {
                cues.push("positive tone".into());
                ValueStance::Praises
            } else if let Some(word) = praised(&tokens)
                && sentiment > SARCASTIC
            {
                cues.push(word.into());
                ValueStance::Praises
            } else {
                ValueStance::Mentions
            });
        }
        cues.dedup();
        out.push(ValueReading { value_id: value.id, stance: reading.unwrap_or(ValueStance::Mentions), cues });
    }
    out
}

/// A praise word that is not negated ("not great" is no praise), or a cheering emoji.
fn praised<'a>(tokens: &[Token<'a>]) -> Option<&'a str> {
    find_any(tokens, PRAISE)
        .into_iter()
        .find(|(start, _, _)| negated(tokens, *start).is_none())
        .map(|(_, _, word)| word)
        .or_else(|| tokens.iter().find(|t| t.text.chars().any(|c| CHEERING.contains(&c))).map(|t| t.text))
}

/// "lol", "loool", "mdr", "mdrrr", "ptdr", "lmao", "lmaooo", "haha", "hahaha".
fn is_laugh(token: &Token<'_>) -> bool {
    let w = token.text;
    let repeated = |prefix: &str, tail: char, min: usize| {
        w.len() >= min && w.strip_prefix(prefix).is_some_and(|rest| rest.chars().all(|c| c == tail))
    };
    let lol = w.len() >= 3 && w.starts_with('l') && w.ends_with('l') && w[1..w.len() - 1].chars().all(|c| c == 'o');
    let haha = w.len() >= 4 && w.len().is_multiple_of(2) && w.as_bytes().chunks(2).all(|c| c == b"ha");
    token.word && (lol || haha || repeated("md", 'r', 3) || repeated("ptd", 'r', 4) || repeated("lma", 'o', 4))
}

/// The cues that make one occurrence of a value's term (tokens `start..end`) an
/// accusation aimed at the claim, if any.
fn aimed_at_claim(
    tokens: &[Token<'_>],
    start: usize,
    end: usize,
    is_name: bool,
    sentiment: f64,
) -> Option<Vec<String>> {
    let found = |cues: &[&str]| Some(cues.iter().map(|c| (*c).to_owned()).collect());
    if let Some(doubt) = preceded_by(tokens, start, DOUBT_REACH, DOUBT) {
        return found(&[doubt]);
    }
    let after = &tokens[end..(end + 3).min(tokens.len())];
    if let Some((_, _, irony)) = find_any(after, IRONY_AFTER).into_iter().next() {
        return found(&[irony]);
    }
    let further = &tokens[end..(end + MOCKERY_REACH).min(tokens.len())];
    if let Some((_, _, paper)) = find_any(further, ON_PAPER).into_iter().next() {
        return found(&[paper]);
    }
    let quoted = tokens[start..end].iter().all(|t| t.quoted);
    // Laughter near a topic word ("lost my packaging receipt lol") mocks nothing; near
    // the claim itself, or its quote, it mocks the claim.
    if sentiment < NEUTRAL_BAND && (is_name || quoted) {
        let near = &tokens[start.saturating_sub(MOCKERY_REACH)..(end + MOCKERY_REACH).min(tokens.len())];
        let mocking = near.iter().find(|t| is_laugh(t) || t.text.chars().any(|c| MOCKING.contains(&c)));
        let laughing = after.iter().find(|t| t.text.chars().any(|c| LAUGHING.contains(&c)));
        if let Some(mark) = mocking.or(laughing) {
            return found(&[mark.text]);
        }
    }
    if sentiment < NEUTRAL_BAND
        && let Some(denied) = preceded_by(tokens, start, 3, DENIED)
    {
        return found(&[denied]);
    }
    if quoted && sentiment <= CLEARLY_NEGATIVE {
        return found(&["scare quotes"]);
    }
    if sentiment < CLEARLY_POSITIVE
        && let Some(claim) = preceded_by(tokens, start, CLAIM_REACH, CLAIM)
    {
        let rest = &tokens[end..(end + CONTRAST_REACH).min(tokens.len())];
        if let Some((_, _, contrast)) = find_any(rest, CONTRAST).into_iter().min_by_key(|c| c.0) {
            return found(&[claim, contrast]);
        }
        if sentiment <= CLEARLY_NEGATIVE {
            return found(&[claim, "negative tone"]);
        }
    }
    if is_name
        && sentiment < NEUTRAL_BAND
        && let Some(negator) = negated(tokens, start)
    {
        return found(&[negator]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> (ValueMatcher, ValueMatcher) {
        let plastic = ValueMatcher::new(
            Uuid::from_u128(1),
            "Zéro plastique",
            &["plastique".into(), "packaging".into(), "emballage".into(), "plastic free".into(), "plastic".into()],
        );
        let cruelty = ValueMatcher::new(Uuid::from_u128(2), "Cruelty free", &["animal testing".into(), "vegan".into()]);
        (plastic, cruelty)
    }

    fn stance(text: &str, sentiment: f64) -> Option<ValueStance> {
        let (plastic, cruelty) = values();
        read(&fold(text), sentiment, &[plastic, cruelty]).into_iter().next().map(|r| r.stance)
    }

    #[test]
    fn accusations_in_french_and_english() {
        use ValueStance::Accuses;
        for (text, sentiment) in [
            ("Verdure se dit zéro plastique mais mon colis en était plein", -0.2),
            ("@verdure_fr vous promettez zéro plastique mais mon colis en était plein. Honteux !", -0.7),
            ("soi-disant zéro plastique, trois couches de film autour du savon", -0.1),
            ("Zéro plastique mon œil, regardez ce carton", -0.3),
            ("Leur « zéro plastique » c'est de la poudre aux yeux", -0.4),
            ("Pur greenwashing ce packaging « éco-conçu »", -0.5),
            ("Encore du plastique partout, quelle hypocrisie", -0.6),
            ("Ils ne sont plus du tout zéro plastique depuis le rachat", -0.3),
            ("so much for cruelty free, their parent company still does animal testing", -0.4),
            ("They claim to be cruelty free but sell in markets that require animal testing", -0.2),
            ("cruelty free lol 🙄", -0.2),
            ("Their plastic free pledge is pure greenwashing", -0.3),
            ("\"Cruelty free\" my ass. Hypocrites.", -0.8),
            ("Not cruelty free at all, check the fine print", -0.2),
            ("Their 'vegan' mascara has beeswax in it, do they think we can't read", -0.1),
            ("Zéro plastique sur le papier, trois sachets dans mon colis", 0.0),
            ("Le packaging zéro plastique mdrrr", 0.0),
            ("Packaging pas du tout zéro plastique chez eux", 0.0),
            ("Zéro plastique qu'ils disaient... papier bulle partout", 0.0),
            ("Their plastic free line is nothing but greenwashing", -0.2),
            ("Encore plus de greenwashing sur le packaging", -0.2),
            ("Pas mal de greenwashing dans leur com sur le plastique", -0.1),
        ] {
            assert_eq!(stance(text, sentiment), Some(Accuses), "{text}");
        }
    }

    #[test]
    fn praise_and_mere_mentions() {
        use ValueStance::{Mentions, Praises};
        for (text, sentiment, expected) in [
            ("Le packaging est arrivé cassé, déçue", -0.5, Mentions),
            ("My order came with a crushed packaging, annoying", -0.4, Mentions),
            ("Packaging broken again, third time this month", -0.6, Mentions),
            ("Le packaging est ravissant, bravo", 0.6, Praises),
            ("Notre engagement « zéro plastique » : 100 % de flacons rechargeables", 0.3, Praises),
            ("Verdure, vraiment zéro plastique : pas un gramme dans le colis 👏", 0.7, Praises),
            ("Ce n'est pas du greenwashing, ils publient leurs chiffres sur le plastique", 0.0, Praises),
            ("Contrairement aux autres marques qui font du greenwashing, Verdure est zéro plastique", 0.4, Praises),
            ("Accusée de « greenwashing », la marque répond sur son packaging", 0.0, Mentions),
            ("Is this brand really cruelty free?", 0.0, Mentions),
            ("Ils promettent zéro plastique mais vont plus loin : zéro déchet, bravo !", 0.8, Praises),
            ("Pas de plastique dans le colis, nickel", 0.2, Praises),
            ("pas de plastique dans le colis", 0.0, Mentions),
            ("Love that they are truly cruelty free", -0.4, Praises),
            ("Not great: the packaging leaks", -0.2, Mentions),
            ("Great, packaging broken again", -0.6, Mentions),
            ("Verdure accusée de greenwashing sur son packaging, la marque dément", -0.6, Mentions),
            ("Brand accused of greenwashing over its plastic free claims, reports say", -0.4, Mentions),
            ("Lost my packaging receipt lol", -0.2, Mentions),
            ("cruelty free and the lipstick lasts all day 😍", -0.3, Praises),
            ("Cruelty free done right, they publish every audit", -0.2, Praises),
        ] {
            assert_eq!(stance(text, sentiment), Some(expected), "{text}");
        }
    }

    #[test]
    fn quotes_apostrophes_and_laughter_are_told_apart() {
        let toks = tokens("l'emballage 'vegan' d'aujourd'hui");
        let quoted: Vec<(&str, bool)> = toks.iter().map(|t| (t.text, t.quoted)).collect();
        assert_eq!(
            quoted,
            [("l", false), ("emballage", false), ("vegan", true), ("d", false), ("aujourd", false), ("hui", false)]
        );
        for (word, laugh) in [
            ("lol", true),
            ("loool", true),
            ("mdrrr", true),
            ("ptdr", true),
            ("lmaooo", true),
            ("hahaha", true),
            ("lollipop", false),
            ("mdx", false),
            ("ha", false),
        ] {
            assert_eq!(is_laugh(&Token { text: word, word: true, quoted: false }), laugh, "{word}");
        }
    }

    #[test]
    fn untouched_values_get_no_reading_and_cues_explain() {
        let (plastic, cruelty) = values();
        assert!(read(&fold("Super crème hydratante"), 0.8, &[plastic.clone(), cruelty.clone()]).is_empty());
        let readings = read(&fold("Vous vous dites zéro plastique mais tout est sous film"), -0.2, &[plastic, cruelty]);
        assert_eq!(readings.len(), 1);
        assert_eq!(readings[0].cues, vec!["zero plastique", "dites", "mais"]);
    }
}
