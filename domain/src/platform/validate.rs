//! Input rules shared by several services: names, keyword lists, emails, time zones.

use crate::{Error, Result};

/// Trims a required name and bounds its length.
pub fn name(field: &str, raw: &str, max: usize) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Error::bad_input(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(Error::bad_input(field, format!("must be at most {max} characters")));
    }
    Ok(trimmed.to_owned())
}

/// Trims an optional text; blank becomes `None`.
pub fn optional_text(field: &str, raw: Option<&str>, max: usize) -> Result<Option<String>> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(text) => name(field, text, max).map(Some),
    }
}

/// Trims a text that may be empty and bounds its length.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > max {
        return Err(Error::bad_input(field, format!("must be at most {max} characters")));
    }
    Ok(trimmed.to_owned())
}

/// Trims, drops blanks and case-insensitive duplicates, and bounds a keyword list.
pub fn keywords(field: &str, raw: &[String]) -> Result<Vec<String>> {
    const MAX_KEYWORDS: usize = 200;
    const MAX_LEN: usize = 100;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for keyword in raw.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
        if keyword.chars().count() > MAX_LEN {
            return Err(Error::bad_input(field, format!("each keyword must be at most {MAX_LEN} characters")));
        }
        if seen.insert(keyword.to_lowercase()) {
            out.push(keyword.to_owned());
        }
    }
    if out.len() > MAX_KEYWORDS {
        return Err(Error::bad_input(field, format!("at most {MAX_KEYWORDS} keywords")));
    }
    Ok(out)
}

/// Normalises an email address (trimmed, lower-cased) and checks its syntax.
pub fn email(field: &str, raw: &str) -> Result<String> {
    let normalised = raw.trim().to_lowercase();
    if normalised.len() > 254 || normalised.parse::<lettre::Address>().is_err() {
        return Err(Error::bad_input(field, "is not a valid email address"));
    }
    Ok(normalised)
}

/// Checks an IANA time zone name such as `Europe/Paris`.
pub fn time_zone(field: &str, raw: &str) -> Result<String> {
    let trimmed = raw.trim();
    trimmed
        .parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| Error::bad_input(field, format!("`{trimmed}` is not an IANA time zone (e.g. Europe/Paris)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(name("name", "   ", 10).is_err());
        assert_eq!(name("name", "  Acme ", 10).unwrap(), "Acme");
        assert!(name("name", "abcdefghijk", 10).is_err());
        assert_eq!(
            keywords("k", &["Eco".into(), " eco ".into(), "".into(), "vélo".into()]).unwrap(),
            vec!["Eco", "vélo"]
        );
        assert_eq!(email("email", " Jo@Example.COM ").unwrap(), "jo@example.com");
        assert!(email("email", "not-an-email").is_err());
        assert_eq!(time_zone("tz", "Europe/Paris").unwrap(), "Europe/Paris");
        assert!(time_zone("tz", "Mars/Olympus").is_err());
    }
}
