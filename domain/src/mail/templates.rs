//! The text of Vigie's emails.

use super::Email;
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
