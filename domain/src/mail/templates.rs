//! Vigie's emails: each is a pair of templates, `domain/templates/email/<name>.txt` and
//! `.html`, in the language of the brand it is about (English for account emails), with
//! a subject from the message catalogue.

use chrono::{DateTime, Utc};
use minijinja::{Value, context};
use serde::Serialize;

use super::Email;
use crate::crises::{Explanation, Metrics, Severity};
use crate::entities::{alert, brand};
use crate::{Config, Result, Role, i18n};

/// Renders `email/<name>.txt` and `.html` with `context` (which carries `lang`).
fn compose(name: &str, subject: String, context: Value) -> Result<Email> {
    let context = context! { subject => &subject, ..context };
    let text = i18n::render(&format!("email/{name}.txt"), &context)?;
    let html = i18n::render(&format!("email/{name}.html"), &context)?;
    Ok(Email { subject, text, html: Some(html) })
}

/// The invitation to join an agency; the token is accepted with the `acceptInvitation`
/// mutation.
pub fn invitation(config: &Config, agency: &str, inviter: &str, role: Role, token: &str) -> Result<Email> {
    let lang = i18n::DEFAULT;
    compose(
        "invitation",
        i18n::text(lang, "email.invitation.subject", context! { agency }),
        context! {
            lang, agency, inviter, token,
            role => role.as_str(),
            link => config.public_link(&format!("graphql?invitation={token}")),
            days => crate::members::INVITATION_TTL_DAYS,
        },
    )
}

/// A crisis alert opened (or worsened: `worsened_from` is the severity before), for the
/// brand's escalation contacts, in the brand's language.
pub fn crisis(
    config: &Config,
    brand: &brand::Model,
    alert: &alert::Model,
    value: Option<&str>,
    worsened_from: Option<Severity>,
) -> Result<Email> {
    let lang = brand.language.as_str();
    let explanation: Explanation = serde_json::from_value(alert.explanation.clone()).unwrap_or_default();
    let metrics: Metrics = serde_json::from_value(alert.metrics.clone()).unwrap_or_default();
    let what = match value {
        Some(value) => i18n::text(lang, "email.crisis.value_gap", context! { value }),
        None => i18n::text(lang, "email.crisis.spike", ()),
    };
    let severity = i18n::text(lang, &format!("severity.{}", alert.severity), ()).to_uppercase();
    let subject = match worsened_from {
        None => i18n::text(lang, "email.crisis.subject", context! { severity, what, brand => brand.name }),
        Some(before) => i18n::text(
            lang,
            "email.crisis.subject_worsened",
            context! {
                before => i18n::text(lang, &format!("severity.{}", before.as_str()), ()).to_uppercase(),
                severity, what, brand => brand.name,
            },
        ),
    };
    compose(
        "crisis",
        subject,
        context! {
            lang,
            summary => explanation.summary_in(lang),
            terms => explanation.top_terms,
            authors => explanation.top_authors,
            evidence => metrics.evidence,
            link => config.public_link(&format!("graphql?alert={}", alert.id)),
        },
    )
}

/// Someone failed to log in to the account `failures` times in a row.
pub fn failed_logins(config: &Config, failures: u32) -> Result<Email> {
    let lang = i18n::DEFAULT;
    compose(
        "failed_logins",
        i18n::text(lang, "email.failed_logins.subject", ()),
        context! {
            lang, failures,
            url => config.public_url.as_str(),
            minutes => crate::ratelimit::MAX_LOCK.as_secs() / 60,
        },
    )
}

/// A webhook endpoint was disabled after failing for days, to the agency's managers.
pub fn webhook_disabled(config: &Config, url: &str, since: DateTime<Utc>, last_error: &str) -> Result<Email> {
    let lang = i18n::DEFAULT;
    compose(
        "webhook_disabled",
        i18n::text(lang, "email.webhook_disabled.subject", context! { url }),
        context! {
            lang, url, last_error,
            since => since.format("%Y-%m-%d %H:%M UTC").to_string(),
            link => config.public_link("graphql"),
        },
    )
}

/// An overdue contact in a reminder.
#[derive(Serialize)]
pub struct Overdue {
    pub brand: String,
    pub handle: String,
    pub network: String,
    pub tier: String,
    pub status: String,
    #[serde(serialize_with = "day")]
    pub due: DateTime<Utc>,
}

fn day<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(&at.format("%Y-%m-%d"))
}

/// The daily reminder to an owner of the influencers they should contact.
pub fn contact_reminder(config: &Config, overdue: &[Overdue]) -> Result<Email> {
    let lang = i18n::DEFAULT;
    compose(
        "contact_reminder",
        i18n::text(lang, "email.reminder.subject", context! { count => overdue.len() }),
        context! { lang, overdue, link => config.public_link("graphql") },
    )
}

/// A ticket at risk of missing (or having missed) its response target, for the brand's
/// escalation contacts.
pub fn sla_alert(
    config: &Config,
    brand: &brand::Model,
    ticket: &crate::entities::ticket::Model,
    mention: Option<&crate::entities::mention::Model>,
    kind: &str,
) -> Result<Email> {
    let lang = brand.language.as_str();
    let key = if kind == crate::events::SLA_BREACHED { "email.sla.subject_breached" } else { "email.sla.subject_due" };
    let priority = i18n::text(lang, &format!("priority.{}", ticket.priority), ());
    compose(
        "sla_alert",
        i18n::text(lang, key, context! { brand => brand.name, priority }),
        context! {
            lang,
            network => ticket.network,
            due => ticket.due_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            url => mention.and_then(|m| m.url.clone()).unwrap_or_default(),
            text => mention.map(|m| m.text.chars().take(500).collect::<String>()).unwrap_or_default(),
            link => config.public_link(&format!("graphql?ticket={}", ticket.id)),
        },
    )
}
