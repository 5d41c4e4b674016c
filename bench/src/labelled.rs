//! Labelled posts for the sentiment tools: `label<TAB>text` files, whose language comes
//! from their name (`umsab_fr_val.tsv`), or `lang<TAB>label<TAB>text` files. Labels are
//! `neg`, `neu`, `pos` (or `negative`, `neutral`, `positive`, `-1`, `0`, `1`); `\uXXXX`
//! escapes in the text, as some public sets store quotes and commas, are decoded.

use std::path::Path;

pub use vigie_domain::scoring::sentiment::model::{CLASSES, class_of};

pub struct Post {
    pub lang: String,
    /// Index in [`CLASSES`].
    pub label: usize,
    pub text: String,
}

pub fn class(raw: &str) -> Option<usize> {
    match raw.trim().to_lowercase().as_str() {
        "neg" | "negative" | "-1" => Some(0),
        "neu" | "neutral" | "0" => Some(1),
        "pos" | "positive" | "1" => Some(2),
        _ => None,
    }
}

/// The language a file's name gives (`umsab_fr_val.tsv` → `fr`), for two-column files.
pub fn language_of(path: &Path) -> Option<String> {
    let name = path.file_stem()?.to_str()?.to_lowercase();
    name.split(['_', '-', '.'])
        .find(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_lowercase()))
        .map(str::to_owned)
}

/// `\uXXXX` escapes decoded (surrogate pairs included); anything else kept as it is.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let unit = |s: &str| s.get(2..6).filter(|_| s.starts_with("\\u")).and_then(|h| u16::from_str_radix(h, 16).ok());
    while let Some(at) = rest.find("\\u") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(high) = unit(rest) else {
            out.push_str("\\u");
            rest = &rest[2..];
            continue;
        };
        let low = unit(&rest[6..]).filter(|l| (0xdc00..0xe000).contains(l));
        let decoded = match low {
            Some(low) if (0xd800..0xdc00).contains(&high) => {
                rest = &rest[12..];
                char::decode_utf16([high, low]).next().and_then(Result::ok)
            }
            _ => {
                rest = &rest[6..];
                char::from_u32(u32::from(high))
            }
        };
        out.push(decoded.unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    out.push_str(rest);
    out
}

pub fn read(path: &Path) -> Result<Vec<Post>, String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let named = language_of(path);
    let mut posts = Vec::new();
    for (n, line) in data.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields: Vec<&str> = line.splitn(3, '\t').collect();
        let bad = || format!("{}:{}: expected label<TAB>text or lang<TAB>label<TAB>text", path.display(), n + 1);
        let (lang, label, text) = match fields[..] {
            [lang, label, text] if class(label).is_some() => (lang.trim().to_lowercase(), label, text),
            [label, text] | [label, text, _] => {
                let text = if fields.len() == 3 { &line[label.len() + 1..] } else { text };
                let lang = named.clone().ok_or_else(|| {
                    format!(
                        "{}: name the file with its language (e.g. posts_fr.tsv) or add a lang column",
                        path.display()
                    )
                })?;
                (lang, label, text)
            }
            _ => return Err(bad()),
        };
        posts.push(Post { lang, label: class(label).ok_or_else(bad)?, text: unescape(text) });
    }
    Ok(posts)
}

/// [`read`] over several files.
pub fn read_all<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<Post>, String> {
    let mut posts = Vec::new();
    for path in paths {
        posts.extend(read(path.as_ref())?);
    }
    Ok(posts)
}

/// Rows: the truth; columns: the prediction.
#[derive(Default, Clone, Copy)]
pub struct Confusion(pub [[usize; 3]; 3]);

impl Confusion {
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.0[truth][predicted] += 1;
    }

    pub fn total(&self) -> usize {
        self.0.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        (0..3).map(|c| self.0[c][c]).sum::<usize>() as f64 / self.total().max(1) as f64
    }

    /// The mean over the three classes of F1 (a class never predicted nor present
    /// scores 0, as scikit-learn's `f1_score(average="macro")` does).
    pub fn macro_f1(&self) -> f64 {
        let f1 = |c: usize| {
            let tp = self.0[c][c] as f64;
            let predicted = (0..3).map(|t| self.0[t][c]).sum::<usize>() as f64;
            let actual = self.0[c].iter().sum::<usize>() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (predicted + actual) }
        };
        (0..3).map(f1).sum::<f64>() / 3.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_matches_scikit_learn() {
        // sklearn.metrics.f1_score([0,0,1,1,2,2], [0,1,1,1,2,0], average="macro") = 0.6555…
        let mut confusion = Confusion::default();
        for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1), (2, 2), (2, 0)] {
            confusion.add(truth, predicted);
        }
        assert!((confusion.macro_f1() - 0.655_555).abs() < 1e-5, "{}", confusion.macro_f1());
        assert!((confusion.accuracy() - 4.0 / 6.0).abs() < 1e-9);
        assert_eq!(Confusion::default().macro_f1(), 0.0);
    }

    #[test]
    fn reads_both_shapes() {
        assert_eq!(language_of(Path::new("../x/umsab_fr_val.tsv")).as_deref(), Some("fr"));
        assert_eq!(language_of(Path::new("posts.tsv")), None);
        let dir = std::env::temp_dir().join(format!("vigie-labelled-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let two = dir.join("set_en.tsv");
        std::fs::write(&two, "# comment\npos\tgreat\tstuff\nnegative\tawful\\u2019s\\u002c\n").unwrap();
        let read2 = read(&two).unwrap();
        assert_eq!(read2.len(), 2);
        assert_eq!((read2[0].lang.as_str(), read2[0].label, read2[0].text.as_str()), ("en", 2, "great\tstuff"));
        assert_eq!(read2[1].text, "awful’s,");
        let three = dir.join("mixed.tsv");
        std::fs::write(&three, "fr\tneu\tbonjour\nen\tneg\tbad\n").unwrap();
        let read3 = read(&three).unwrap();
        assert_eq!((read3[0].lang.as_str(), read3[0].label), ("fr", 1));
        std::fs::write(&three, "maybe\tbonjour\n").unwrap();
        assert!(read(&three).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(unescape(r"it\u2019s \ud83d\ude00 \u00e9t\u00e9"), "it’s 😀 été");
        assert_eq!(unescape(r"a\\ub \u12 \uzzzz"), r"a\\ub \u12 \uzzzz");
        assert_eq!(unescape(r"\ud83d alone"), "\u{fffd} alone");
    }
}
