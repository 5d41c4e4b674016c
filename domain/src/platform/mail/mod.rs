//! Email through an outbox: services write the message in the same transaction as the
//! change that causes it, and the `email.dispatch` job sends it afterwards. A crash
//! between the two delays an email but never loses it, and an SMTP outage is retried
//! with backoff.
//!
//! Without `SMTP_URL`, the job writes each email to the log (secrets redacted) and
//! keeps it whole in the outbox with the status `logged`, so the embedded mode needs no
//! mail server. Once an email is sent (or given up), the secrets in the outbox's copy
//! are redacted: a database dump must not hold live invitation tokens.

use chrono::Duration as ChronoDuration;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use crate::System;
use crate::entities::{agency, email_outbox};
use crate::platform::auth::secrets::redact;
use crate::platform::jobs::Registry;
use crate::platform::queue::{Envelope, JobPayload};
use crate::{Config, Error, Result, Services, new_id, now, platform::i18n};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

/// Renders one of Vigie's emails, `domain/templates/email/<name>.txt` and `.html`, with
/// `context` (which carries `lang`: the brand's language, English for account emails)
/// and a subject from the message catalogue. Each feature writes its own.
pub(crate) fn compose(name: &str, subject: String, context: Value) -> Result<Email> {
    let context = context! { subject => &subject, ..context };
    let text = i18n::render(&format!("email/{name}.txt"), &context)?;
    let html = i18n::render(&format!("email/{name}.html"), &context)?;
    Ok(Email { subject, text, html: Some(html) })
}

/// Attempts before an email is marked `failed`.
pub const MAX_ATTEMPTS: i32 = 6;
/// How long a dispatch job owns a message it is sending.
const CLAIM: Duration = Duration::from_secs(120);

/// A message to send.
#[derive(Clone, Debug)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Writes an email to the outbox; call [`send_soon`] after the transaction commits.
pub(crate) async fn enqueue(
    db: &impl ConnectionTrait,
    agency_id: Option<Uuid>,
    to: &str,
    email: Email,
) -> Result<Uuid> {
    let id = new_id();
    email_outbox::ActiveModel {
        id: Set(id),
        agency_id: Set(agency_id),
        to_address: Set(to.to_owned()),
        subject: Set(email.subject),
        text_body: Set(email.text),
        html_body: Set(email.html),
        status: Set("pending".into()),
        attempts: Set(0),
        last_error: Set(None),
        claimed_until: Set(None),
        created_at: Set(now()),
        sent_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Sends outbox emails over SMTP, or logs them when no server is configured.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// Builds the mailer from `SMTP_URL` and `VIGIE_MAIL_FROM`.
    pub fn new(config: &Config) -> Result<Self> {
        let transport = match &config.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| Error::internal_from("SMTP_URL", e))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build(),
            ),
        };
        let from = config.mail_from.parse().map_err(|e| Error::internal_from("VIGIE_MAIL_FROM", e))?;
        Ok(Mailer { transport, from })
    }

    /// Sends every due message once; returns how many were handled.
    pub async fn dispatch_due(&self, _: System, db: &DatabaseConnection) -> Result<usize> {
        let at = now();
        let due = Condition::any()
            .add(email_outbox::Column::ClaimedUntil.is_null())
            .add(email_outbox::Column::ClaimedUntil.lt(at));
        let candidates = email_outbox::Entity::find()
            .filter(email_outbox::Column::Status.is_in(["pending", "sending"]))
            .filter(due.clone())
            .order_by_asc(email_outbox::Column::Id)
            .limit(50)
            .all(db)
            .await?;
        let mut handled = 0;
        for message in candidates {
            // Claim with a conditional update so that several dispatchers (api replicas,
            // workers) never send the same message twice.
            let claimed = email_outbox::Entity::update_many()
                .col_expr(email_outbox::Column::Status, Expr::value("sending"))
                .col_expr(email_outbox::Column::ClaimedUntil, Expr::value(at + chrono_duration(CLAIM)))
                .col_expr(email_outbox::Column::Attempts, Expr::col(email_outbox::Column::Attempts).add(1))
                .filter(email_outbox::Column::Id.eq(message.id))
                .filter(email_outbox::Column::Status.is_in(["pending", "sending"]))
                .filter(due.clone())
                .exec(db)
                .await?;
            if claimed.rows_affected == 1 {
                self.deliver(db, message).await?;
                handled += 1;
            }
        }
        Ok(handled)
    }

    async fn deliver(&self, db: &DatabaseConnection, message: email_outbox::Model) -> Result<()> {
        let attempts = message.attempts + 1;
        let outcome = match &self.transport {
            None => {
                tracing::info!(
                    to = %message.to_address,
                    subject = %redact(&message.subject),
                    body = %redact(&message.text_body),
                    "email (no SMTP_URL configured: logged with its secrets redacted, kept whole in the outbox)"
                );
                Ok("logged")
            }
            Some(transport) => {
                let (from, reply_to) = self.sender(db, message.agency_id).await?;
                match build(&message, from, reply_to) {
                    Ok(email) => transport.send(email).await.map(|_| "sent").map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                }
            }
        };
        let text_redacted = redact(&message.text_body).into_owned();
        let html_redacted = message.html_body.as_deref().map(|html| redact(html).into_owned());
        let mut row: email_outbox::ActiveModel = message.into();
        row.attempts = Set(attempts);
        match outcome {
            Ok(status) => {
                if status == "sent" {
                    row.text_body = Set(text_redacted);
                    row.html_body = Set(html_redacted);
                }
                row.status = Set(status.into());
                row.sent_at = Set(Some(now()));
                row.claimed_until = Set(None);
                row.last_error = Set(None);
            }
            Err(error) => {
                tracing::warn!(%error, attempts, "email delivery failed");
                row.last_error = Set(Some(error));
                if attempts >= MAX_ATTEMPTS {
                    // Never sent, never retried: its secrets have no reader left.
                    row.text_body = Set(text_redacted);
                    row.html_body = Set(html_redacted);
                    row.status = Set("failed".into());
                    row.claimed_until = Set(None);
                } else {
                    // Retry after 30 s, 1 min, 2 min… (exponential backoff).
                    let backoff = Duration::from_secs(30 * 2u64.pow(attempts as u32 - 1));
                    row.status = Set("pending".into());
                    row.claimed_until = Set(Some(now() + chrono_duration(backoff)));
                }
            }
        }
        row.update(db).await?;
        Ok(())
    }

    /// `From` and `Reply-To` of an agency's email. An agency's `senderEmail` is not
    /// verified, so it is only where answers go: `From` stays the instance's address (the
    /// one its SPF and DKIM cover), under the agency's name.
    async fn sender(&self, db: &DatabaseConnection, agency_id: Option<Uuid>) -> Result<(Mailbox, Option<Mailbox>)> {
        let Some(agency_id) = agency_id else {
            return Ok((self.from.clone(), None));
        };
        let Some(agency) = agency::Entity::find_by_id(agency_id).one(db).await? else {
            return Ok((self.from.clone(), None));
        };
        let instance = self.from.name.as_deref().unwrap_or("Vigie");
        // A name that looks like an address would read as the sender in most clients.
        let name: String = agency.name.chars().filter(|c| !matches!(c, '@' | '<' | '>' | '"')).collect();
        let from = Mailbox::new(Some(format!("{} via {instance}", name.trim())), self.from.email.clone());
        let reply_to =
            agency.sender_email.and_then(|email| email.parse().ok()).map(|a| Mailbox::new(Some(agency.name), a));
        Ok((from, reply_to))
    }
}

/// The job that sends due outbox emails. It runs every few seconds and right after a
/// service queues an email; concurrent runs are safe (messages are claimed).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DispatchEmail {}

impl JobPayload for DispatchEmail {
    const KIND: &'static str = "email.dispatch";
}

/// How often due emails are looked for when nothing asks sooner.
const SWEEP: Duration = Duration::from_secs(10);

/// Registers the email jobs.
pub(crate) fn register_jobs(registry: &mut Registry) {
    registry.register(|services: Arc<Services>, _meta, _job: DispatchEmail| async move {
        services.mailer.dispatch_due(System::new(), &services.db).await?;
        Ok(())
    });
    registry.schedule("email.sweep", SWEEP, |_slot| Envelope::new(None, &DispatchEmail {}));
}

/// Asks for the outbox to be sent now (after the transaction that queued an email
/// committed). Failing to ask is harmless: the periodic sweep sends it.
pub(crate) async fn send_soon(services: &Services, tenant: Option<Uuid>) {
    if let Err(error) = crate::platform::jobs::enqueue(services, tenant, &DispatchEmail {}).await {
        tracing::warn!(error = %crate::platform::error::chain(&error), "cannot enqueue email dispatch; the periodic sweep will send it");
    }
}

fn build(
    message: &email_outbox::Model,
    from: Mailbox,
    reply_to: Option<Mailbox>,
) -> std::result::Result<Message, String> {
    let to: Mailbox = message.to_address.parse().map_err(|e| format!("bad recipient: {e}"))?;
    let mut builder = Message::builder().from(from).to(to).subject(message.subject.clone());
    if let Some(reply_to) = reply_to {
        builder = builder.reply_to(reply_to);
    }
    let built = match &message.html_body {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(message.text_body.clone(), html.clone())),
        None => builder.body(message.text_body.clone()),
    };
    built.map_err(|e| format!("cannot build the message: {e}"))
}

fn chrono_duration(d: Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::zero())
}
