//! The text of Vigie's emails.

use super::Email;
use crate::crises::{Explanation, Metrics, Severity};
use crate::entities::{alert, brand};
use crate::{Config, Role};

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "an owner",
        Role::Admin => "an admin",
        Role::Member => "a member",
        Role::ClientViewer => "a client viewer",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The invitation to join an agency; the token is accepted with the `acceptInvitation`
/// mutation.
pub fn invitation(config: &Config, agency: &str, inviter: &str, role: Role, token: &str) -> Email {
    let link = config.public_link(&format!("graphql?invitation={token}"));
    let days = crate::members::INVITATION_TTL_DAYS;
    let role = role_label(role);
    let text = format!(
        "{inviter} invites you to join {agency} on Vigie as {role}.\n\n\
         Your invitation code: {token}\n\n\
         Accept it with the acceptInvitation mutation (open {link}), giving your name and a password.\n\
         The invitation expires in {days} days. If you did not expect it, ignore this email.\n"
    );
    let html = format!(
        "<p>{} invites you to join <strong>{}</strong> on Vigie as {role}.</p>\
         <p>Your invitation code: <code>{token}</code></p>\
         <p>Accept it with the <code>acceptInvitation</code> mutation (<a href=\"{}\">open Vigie</a>), giving your name and a password.</p>\
         <p>The invitation expires in {days} days. If you did not expect it, ignore this email.</p>",
        escape(inviter),
        escape(agency),
        escape(&link)
    );
    Email { subject: format!("Join {agency} on Vigie"), text, html: Some(html) }
}

/// A crisis alert opened (or worsened: `worsened_from` is the severity before), for the
/// brand's escalation contacts, in the brand's language.
pub fn crisis(
    config: &Config,
    brand: &brand::Model,
    alert: &alert::Model,
    value: Option<&str>,
    worsened_from: Option<Severity>,
) -> Email {
    let french = brand.language == "fr";
    let explanation: Explanation = serde_json::from_value(alert.explanation.clone()).unwrap_or_default();
    let metrics: Metrics = serde_json::from_value(alert.metrics.clone()).unwrap_or_default();
    let link = config.public_link(&format!("graphql?alert={}", alert.id));
    let what = match (value, french) {
        (Some(v), true) => format!("écart avec la valeur « {v} »"),
        (Some(v), false) => format!("gap with the value \"{v}\""),
        (None, true) => "pic de mentions négatives".to_owned(),
        (None, false) => "spike of negative mentions".to_owned(),
    };
    let severity = alert.severity.to_uppercase();
    let subject = match (worsened_from, french) {
        (None, true) => format!("[Vigie] Alerte {severity} : {what} — {}", brand.name),
        (None, false) => format!("[Vigie] {severity} alert: {what} — {}", brand.name),
        (Some(before), true) => {
            format!("[Vigie] Alerte aggravée ({} → {severity}) : {what} — {}", before.as_str(), brand.name)
        }
        (Some(before), false) => {
            format!("[Vigie] Alert worsened ({} → {severity}): {what} — {}", before.as_str(), brand.name)
        }
    };
    let (terms_label, authors_label, open_label) = if french {
        ("Termes dominants", "Auteurs les plus suivis", "Ouvrir l'alerte")
    } else {
        ("Top terms", "Most followed authors", "Open the alert")
    };
    let authors: Vec<String> = explanation
        .top_authors
        .iter()
        .map(|a| format!("@{} ({} followers, {})", a.handle, a.followers, a.network))
        .collect();
    let text = format!(
        "{subject}\n\n{}\n\n{terms_label}: {}\n{authors_label}: {}\nMentions: {}\n\n{open_label}: {link}\n",
        explanation.summary,
        explanation.top_terms.join(", "),
        authors.join(", "),
        metrics.evidence
    );
    let html = format!(
        "<h2>{}</h2><p>{}</p><p><strong>{terms_label}:</strong> {}</p><p><strong>{authors_label}:</strong> {}</p>\
         <p>Mentions: {}</p><p><a href=\"{}\">{open_label}</a></p>",
        escape(&subject),
        escape(&explanation.summary),
        escape(&explanation.top_terms.join(", ")),
        escape(&authors.join(", ")),
        metrics.evidence,
        escape(&link)
    );
    Email { subject, text, html: Some(html) }
}

/// Someone failed to log in to the account `failures` times in a row.
pub fn failed_logins(config: &Config, failures: u32) -> Email {
    let minutes = crate::ratelimit::MAX_LOCK.as_secs() / 60;
    let text = format!(
        "Someone failed to log in to your Vigie account {failures} times in a row ({}).\n\n\
         If it was you, wait a few minutes before trying again. If it was not, nothing is needed: \
         Vigie now slows every further attempt on your account, up to {minutes} minutes apart. \
         A long and unique password keeps it safe.\n",
        config.public_url
    );
    let html = format!(
        "<p>Someone failed to log in to your Vigie account {failures} times in a row ({}).</p>\
         <p>If it was you, wait a few minutes before trying again. If it was not, nothing is needed: \
         Vigie now slows every further attempt on your account, up to {minutes} minutes apart. \
         A long and unique password keeps it safe.</p>",
        escape(config.public_url.as_str())
    );
    Email { subject: "[Vigie] Failed log-ins to your account".into(), text, html: Some(html) }
}

/// A webhook endpoint was disabled after failing for days, to the agency's managers.
pub fn webhook_disabled(config: &Config, url: &str, since: chrono::DateTime<chrono::Utc>, last_error: &str) -> Email {
    let link = config.public_link("graphql");
    let since = since.format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "Vigie disabled the webhook endpoint {url}: every delivery to it has failed since {since}.\n\
         Last error: {last_error}\n\n\
         Fix the receiver, enable the endpoint again (updateWebhookEndpoint with enabled: true), \
         then replay the failed deliveries (replayDelivery). {link}\n"
    );
    let html = format!(
        "<p>Vigie disabled the webhook endpoint <code>{}</code>: every delivery to it has failed since {since}.</p>\
         <p>Last error: <code>{}</code></p>\
         <p>Fix the receiver, enable the endpoint again (<code>updateWebhookEndpoint</code> with <code>enabled: true</code>), \
         then replay the failed deliveries (<code>replayDelivery</code>). <a href=\"{}\">Open Vigie</a></p>",
        escape(url),
        escape(last_error),
        escape(&link)
    );
    Email { subject: format!("[Vigie] Webhook endpoint disabled: {url}"), text, html: Some(html) }
}

/// An overdue contact in a reminder.
pub struct Overdue {
    pub brand: String,
    pub handle: String,
    pub network: String,
    pub tier: String,
    pub status: String,
    pub due: chrono::DateTime<chrono::Utc>,
}

/// The daily reminder to an owner of the influencers they should contact.
pub fn contact_reminder(config: &Config, overdue: &[Overdue]) -> Email {
    let link = config.public_link("graphql");
    let line = |o: &Overdue| {
        format!(
            "{} — @{} on {} ({}, {}), due since {}",
            o.brand,
            o.handle,
            o.network,
            o.tier,
            o.status.replace('_', " "),
            o.due.format("%Y-%m-%d")
        )
    };
    let text = format!(
        "You have {} influencer contact{} overdue:\n\n{}\n\nLog each contact with logInteraction once done: {link}\n",
        overdue.len(),
        if overdue.len() == 1 { "" } else { "s" },
        overdue.iter().map(|o| format!("- {}", line(o))).collect::<Vec<_>>().join("\n")
    );
    let html = format!(
        "<p>You have {} influencer contact{} overdue:</p><ul>{}</ul>\
         <p>Log each contact with <code>logInteraction</code> once done. <a href=\"{}\">Open Vigie</a></p>",
        overdue.len(),
        if overdue.len() == 1 { "" } else { "s" },
        overdue.iter().map(|o| format!("<li>{}</li>", escape(&line(o)))).collect::<String>(),
        escape(&link)
    );
    let plural = if overdue.len() == 1 { "" } else { "s" };
    Email { subject: format!("[Vigie] {} influencer contact{plural} overdue", overdue.len()), text, html: Some(html) }
}

/// A ticket at risk of missing (or having missed) its response target, for the brand's
/// escalation contacts.
pub fn sla_alert(
    config: &Config,
    brand: &brand::Model,
    ticket: &crate::entities::ticket::Model,
    mention: Option<&crate::entities::mention::Model>,
    kind: &str,
) -> Email {
    let breached = kind == crate::events::SLA_BREACHED;
    let french = brand.language == "fr";
    let subject = match (breached, french) {
        (true, true) => format!("[Vigie] Délai de réponse dépassé — {} ({})", brand.name, ticket.priority),
        (true, false) => format!("[Vigie] Response target missed — {} ({})", brand.name, ticket.priority),
        (false, true) => format!("[Vigie] Réponse attendue bientôt — {} ({})", brand.name, ticket.priority),
        (false, false) => format!("[Vigie] Response due soon — {} ({})", brand.name, ticket.priority),
    };
    let due = ticket.due_at.format("%Y-%m-%d %H:%M UTC");
    let text_of = mention.map(|m| m.text.chars().take(500).collect::<String>()).unwrap_or_default();
    let url = mention.and_then(|m| m.url.clone()).unwrap_or_default();
    let link = config.public_link(&format!("graphql?ticket={}", ticket.id));
    let text =
        format!("{subject}\n\nNetwork: {}\nDue: {due}\n{url}\n\n{text_of}\n\nOpen the inbox: {link}\n", ticket.network);
    let html = format!(
        "<h2>{}</h2><p>Network: {}<br>Due: {due}<br><a href=\"{}\">{}</a></p><blockquote>{}</blockquote><p><a href=\"{}\">Open the inbox</a></p>",
        escape(&subject),
        escape(&ticket.network),
        escape(&url),
        escape(&url),
        escape(&text_of),
        escape(&link)
    );
    Email { subject, text, html: Some(html) }
}
