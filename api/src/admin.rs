//! `vigie-api admin …`: the operator's commands, run against the configured database
//! (and queue) without the server. See docs/operations.md.

use std::io::Write;
use std::sync::Arc;

use vigie_domain::admin::{self, Operator};
use vigie_domain::{Config, Services};

pub const USAGE: &str = "\
usage: vigie-api admin COMMAND
  create-agency AGENCY OWNER_NAME OWNER_EMAIL   an agency and its owner; prints a one-time password
  reset-password EMAIL                          a new one-time password; revokes the user's refresh tokens
  dead-letters                                  the system's unresolved failed jobs
  retry-dead-letter ID                          runs one of them again
  export-agency AGENCY_ID                       the agency's data as JSON lines on stdout
  erase-author NETWORK HANDLE                   blanks an author's mentions and removes their profile
  config                                        the effective configuration, secrets masked";

/// Why a command did not run: a usage error (exit code 2) or a failure (1).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}\n{USAGE}")]
    Usage(String),
    #[error(transparent)]
    Domain(#[from] vigie_domain::Error),
    #[error("cannot write: {0}")]
    Write(#[from] std::io::Error),
}

impl AdminError {
    pub fn exit_code(&self) -> i32 {
        if matches!(self, AdminError::Usage(_)) { 2 } else { 1 }
    }
}

/// Runs one admin command, writing what it prints to `out`.
pub async fn run(config: Arc<Config>, args: &[&str], out: &mut impl Write) -> Result<(), AdminError> {
    if let ["config"] = args {
        writeln!(out, "{config:#?}")?;
        return Ok(());
    }
    let command = args.first().copied().unwrap_or_default();
    let known =
        ["create-agency", "reset-password", "dead-letters", "retry-dead-letter", "export-agency", "erase-author"];
    if !known.contains(&command) {
        return Err(AdminError::Usage(format!("unknown admin command `{}`", args.join(" "))));
    }
    let services = Services::start(config).await?;
    let operator = Operator::at_the_command_line();
    let id = |raw: &str| raw.parse().map_err(|_| AdminError::Usage(format!("`{raw}` is not an id")));
    match args {
        ["create-agency", agency, owner, email] => {
            let made = admin::create_agency(&services, &operator, agency, owner, email).await?;
            writeln!(out, "agency {} created; owner {email} ({})", made.agency_id, made.owner_id)?;
            writeln!(out, "one-time password (shown once; ask them to change it): {}", made.password)?;
        }
        ["reset-password", email] => {
            let password = admin::reset_password(&services, &operator, email).await?;
            writeln!(out, "{email}: refresh tokens revoked; one-time password (shown once): {password}")?;
        }
        ["dead-letters"] => {
            let letters = admin::dead_letters(&services, &operator).await?;
            for letter in &letters {
                let error = letter.error.lines().next().unwrap_or_default();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{} attempts\t{error}",
                    letter.id, letter.kind, letter.failed_at, letter.attempts
                )?;
            }
            writeln!(out, "{} unresolved", letters.len())?;
        }
        ["retry-dead-letter", _] if services.config.redis_url.is_none() => {
            // Without Redis the queue lives inside the api process: a job put on this
            // command's own queue would die with it.
            return Err(AdminError::Usage(
                "retry-dead-letter needs REDIS_URL: without it, jobs run inside the api process".into(),
            ));
        }
        ["retry-dead-letter", raw] => {
            let letter = admin::retry_dead_letter(&services, &operator, id(raw)?).await?;
            writeln!(out, "{} ({}) enqueued again", letter.id, letter.kind)?;
        }
        ["export-agency", raw] => {
            let rows = admin::export_agency(&services, &operator, id(raw)?, out).await?;
            tracing::info!(rows, "agency exported");
        }
        ["erase-author", network, handle] => {
            let erased = admin::erase_author(&services, &operator, network, handle).await?;
            writeln!(out, "{network} {handle}: {} mentions blanked in {} agencies", erased.mentions, erased.agencies)?;
        }
        _ => return Err(AdminError::Usage(format!("wrong arguments for `{command}`"))),
    }
    Ok(())
}
