//! Vigie's words in each language and the templates that carry them.
//!
//! Each language has one message catalogue, `domain/locales/<code>.txt` (`key = text`,
//! the text a MiniJinja template that may choose its own plural forms). Pages and
//! emails are MiniJinja templates in `domain/templates/`; `.html` ones escape every
//! value they print. Inside a template, `t("key", name=value)` gives a message in the
//! language of the template's `lang` variable. Both directories are embedded at build
//! time, so a new language is a new file.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, State, UndefinedBehavior};
use serde::Serialize;

use crate::{Error, Result};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The language used when a message is missing in another, and for people whose
/// language Vigie does not know.
pub const DEFAULT: &str = "en";

/// The `(key, text)` pairs of a catalogue, in file order.
fn entries(source: &str) -> impl Iterator<Item = (&str, &str)> {
    source
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(key, text)| (key.trim(), text.trim())))
}

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // `{% if x %}` on a missing value is fine, printing one is an error (caught by tests).
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_keep_trailing_newline(true);
    // Only pages escape; messages (`<code>/<key>`) and text parts print as they are, and
    // the page that prints a message escapes it.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") { minijinja::AutoEscape::Html } else { minijinja::AutoEscape::None }
    });
    for (code, source) in CATALOGUES {
        for (key, text) in entries(source) {
            if let Err(error) = env.add_template_owned(format!("{code}/{key}"), text.to_owned()) {
                tracing::error!(error = %crate::platform::error::chain(&error), code, key, "message does not compile");
            }
        }
    }
    for (name, source) in TEMPLATES {
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(error = %crate::platform::error::chain(&error), name, "template does not compile");
        }
    }
    env.add_function("t", |state: &State, key: &str, args: Kwargs| -> std::result::Result<Value, minijinja::Error> {
        let lang = state.lookup("lang");
        let lang = lang.as_ref().and_then(Value::as_str).unwrap_or(DEFAULT);
        // A message that fails is a bug, but it must not cost the page or the email
        // (an alert email is written in the transaction that opens the alert).
        Ok(Value::from(message(state.env(), lang, key, Value::from(args)).unwrap_or_else(|error| {
            tracing::error!(error = %crate::platform::error::chain(&error), lang, key, "message failed");
            shown_key(key)
        })))
    });
    env
});

fn message(env: &Environment<'_>, lang: &str, key: &str, args: Value) -> std::result::Result<String, minijinja::Error> {
    let found = env.get_template(&format!("{lang}/{key}")).or_else(|_| env.get_template(&format!("{DEFAULT}/{key}")));
    match found {
        Ok(template) => template.render(args),
        Err(_) => Ok(shown_key(key)),
    }
}

/// What stands for a message that is missing: its last part, which for a kind or
/// status newer than the catalogue (`alert.kind.<kind>`) is the stored name itself.
fn shown_key(key: &str) -> String {
    key.rsplit('.').next().unwrap_or(key).to_owned()
}

/// The languages Vigie speaks, by ISO 639-1 code.
pub fn languages() -> impl Iterator<Item = &'static str> {
    CATALOGUES.iter().map(|(code, _)| *code)
}

/// Whether `code` is one of [`languages`].
pub fn speaks(code: &str) -> bool {
    languages().any(|known| known == code)
}

/// `raw` as one of [`languages`] (trimmed, lower case), or a `BAD_USER_INPUT` on `field`.
pub fn language(field: &str, raw: &str) -> Result<String> {
    let code = raw.trim().to_lowercase();
    if speaks(&code) {
        Ok(code)
    } else {
        let known: Vec<&str> = languages().collect();
        Err(Error::bad_input(field, format!("must be one of {}", known.join(", "))))
    }
}

/// The message `key` in `lang` (English when missing), with `args` (a `serde`
/// structure or `minijinja::context!`) filled in. An unknown key is returned as is.
pub fn text(lang: &str, key: &str, args: impl Serialize) -> String {
    message(&ENVIRONMENT, lang, key, Value::from_serialize(args)).unwrap_or_else(|error| {
        tracing::error!(error = %crate::platform::error::chain(&error), lang, key, "message failed");
        shown_key(key)
    })
}

/// Renders the template `name` (a path under `domain/templates/`) with `context`.
pub fn render(name: &str, context: impl Serialize) -> Result<String> {
    ENVIRONMENT
        .get_template(name)
        .and_then(|template| template.render(context))
        .map_err(|error| Error::internal_from(format!("template {name}"), error))
}

/// Each language's keys, for the checks below and for tools.
pub fn catalogues() -> BTreeMap<&'static str, Vec<&'static str>> {
    CATALOGUES.iter().map(|(code, source)| (*code, entries(source).map(|(key, _)| key).collect())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_language_has_every_message_once_with_the_same_values() {
        let catalogues = catalogues();
        let english: BTreeSet<&str> = catalogues[DEFAULT].iter().copied().collect();
        assert!(english.len() > 50);
        assert!(speaks("fr") && speaks("en") && !speaks("xx"));
        for (code, keys) in &catalogues {
            let set: BTreeSet<&str> = keys.iter().copied().collect();
            assert_eq!(set.len(), keys.len(), "{code}: a key twice");
            assert_eq!(set, english, "{code}: keys differ from English");
            for key in keys {
                let name = format!("{code}/{key}");
                let template = ENVIRONMENT.get_template(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
                let english = ENVIRONMENT.get_template(&format!("{DEFAULT}/{key}")).unwrap();
                assert_eq!(
                    template.undeclared_variables(false),
                    english.undeclared_variables(false),
                    "{name} does not use the values the English text uses"
                );
            }
        }
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            ENVIRONMENT.get_template(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        }
    }

    #[test]
    fn messages_take_plurals_and_fall_back_to_english() {
        assert_eq!(text("fr", "report.csr.posts", minijinja::context! { count => 1 }), "publication");
        assert_eq!(text("fr", "report.csr.posts", minijinja::context! { count => 0 }), "publication");
        assert_eq!(text("en", "report.csr.posts", minijinja::context! { count => 0 }), "posts");
        assert_eq!(text("de", "tier.mega", ()), "mega");
        assert_eq!(text("fr", "alert.kind.brand_new_kind", ()), "brand_new_kind");
        assert_eq!(language("language", " FR ").unwrap(), "fr");
        assert!(language("language", "xx").is_err());
    }
}
