//! What an operator does from the command line (`vigie-api admin …`), with the
//! database's credentials and no account in Vigie: create an agency and its owner,
//! reset a password, see and retry the system's dead letters, export one agency's data
//! (portability), and erase one author's data across every agency (right to erasure).
//! Each function acts as an [`Operator`] and leaves an audit row in every agency it
//! touches.

use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func};
use sea_orm::{
    AccessMode, ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    IntoActiveModel, IsolationLevel, JsonValue, ModelTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::str::FromStr;
use uuid::Uuid;

use crate::accounts::{self, SignUp};
use crate::entities::{author, job_failure, membership, mention, mention_competitor, refresh_token, user_account};
use crate::platform::auth::secrets;
use crate::platform::{audit, jobs::failures};
use crate::{Error, Result, Services, now};

/// The operator at the command line, who holds the database's credentials and so may
/// act on any agency. Only `vigie-api admin` makes one (`architecture.rs` checks it).
#[derive(Debug)]
pub struct Operator(());

impl Operator {
    pub fn at_the_command_line() -> Self {
        Self(())
    }
}

/// An agency made by [`create_agency`], and its owner's first password (shown once; no
/// `Debug`, so that it cannot reach a log line by accident).
pub struct NewAgency {
    pub agency_id: Uuid,
    pub owner_id: Uuid,
    pub password: String,
}

/// A password for a person to type once and then change: 24 random characters.
fn one_time_password() -> String {
    secrets::generate("").plain.chars().take(24).collect()
}

/// Creates an agency and its owner, with a random password to hand over.
pub async fn create_agency(
    services: &Services,
    _: &Operator,
    agency_name: &str,
    owner_name: &str,
    owner_email: &str,
) -> Result<NewAgency> {
    let password = one_time_password();
    let input = SignUp {
        agency_name: agency_name.to_owned(),
        name: owner_name.to_owned(),
        email: owner_email.to_owned(),
        password: password.clone(),
    };
    let session = accounts::sign_up(services, input).await?;
    Ok(NewAgency { agency_id: session.actor.agency_id, owner_id: session.user.id, password })
}

/// Gives a user a new random password and revokes every refresh token they hold, after
/// locking their row so that no refresh in flight slips a new one past it (see
/// [`accounts::refresh`]); access tokens already issued run out within their lifetime.
/// Returns the password, shown once.
pub async fn reset_password(services: &Services, _: &Operator, email: &str) -> Result<String> {
    let user = accounts::find_user_by_email(&services.db, email).await?.ok_or(Error::NotFound("user"))?;
    let password = one_time_password();
    let hash = services.passwords.hash(password.clone()).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    user_account::Entity::update_many()
        .col_expr(user_account::Column::PasswordHash, Expr::value(hash))
        .col_expr(user_account::Column::UpdatedAt, Expr::value(now()))
        .filter(user_account::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now()))
        .filter(refresh_token::Column::UserId.eq(user.id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    for agency_id in agencies_of(&txn, user.id).await? {
        audit::record_by_operator(&txn, agency_id, "user.password_reset", "user", Some(user.id), json!({})).await?;
    }
    txn.commit().await?;
    Ok(password)
}

async fn agencies_of(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<Uuid>> {
    Ok(membership::Entity::find()
        .select_only()
        .column(membership::Column::AgencyId)
        .filter(membership::Column::UserId.eq(user_id))
        .into_tuple()
        .all(db)
        .await?)
}

/// The system's unresolved dead letters: failed jobs of no agency (sweeps, clocks),
/// which no agency manager sees.
pub async fn dead_letters(services: &Services, _: &Operator) -> Result<Vec<job_failure::Model>> {
    Ok(job_failure::Entity::find()
        .filter(job_failure::Column::AgencyId.is_null())
        .filter(job_failure::Column::ResolvedAt.is_null())
        .order_by_asc(job_failure::Column::FailedAt)
        .limit(1000)
        .all(&services.db)
        .await?)
}

/// Runs one of the system's dead letters again, from its first attempt.
pub async fn retry_dead_letter(services: &Services, _: &Operator, id: Uuid) -> Result<job_failure::Model> {
    let failure = job_failure::Entity::find_by_id(id)
        .filter(job_failure::Column::AgencyId.is_null())
        .one(&services.db)
        .await?
        .ok_or(Error::NotFound("dead letter"))?;
    failures::retry_failure(services, failure).await
}

/// Rows read per statement while exporting.
const EXPORT_PAGE: u64 = 1000;

/// Writes one agency's data as JSON lines, `{"table": …, "row": {…}}`: the agency, its
/// members' accounts (without password hashes), every table that holds its rows, and
/// the public profiles of the authors its mentions name. Secrets (hashes of tokens and
/// keys, signing secrets) are left out, and so are the operational queues (outboxes,
/// deliveries, dead letters, sessions), which are not the agency's data. Returns the
/// number of rows written.
pub async fn export_agency(services: &Services, _: &Operator, agency_id: Uuid, out: &mut impl Write) -> Result<u64> {
    use crate::entities::*;
    // One snapshot for every table, so that the export is consistent while the agency
    // goes on working (REPEATABLE READ on PostgreSQL; SQLite reads one snapshot in a
    // transaction anyway).
    let db = &services
        .db
        .begin_with_config(
            (services.db.get_database_backend() == DbBackend::Postgres).then_some(IsolationLevel::RepeatableRead),
            (services.db.get_database_backend() == DbBackend::Postgres).then_some(AccessMode::ReadOnly),
        )
        .await?;
    let found = agency::Entity::find_by_id(agency_id).into_json().one(db).await?.ok_or(Error::NotFound("agency"))?;
    let mut export = Export { out, written: 0, authors: BTreeSet::new(), parents: BTreeMap::new() };
    export.line("agency", found)?;
    let members: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::UserId)
        .filter(membership::Column::AgencyId.eq(agency_id))
        .into_tuple()
        .all(db)
        .await?;
    for user in user_account::Entity::find().filter(user_account::Column::Id.is_in(members)).all(db).await? {
        let row = json!({ "id": user.id, "email": user.email, "name": user.name, "created_at": user.created_at });
        export.line("user_account", row)?;
    }
    macro_rules! tables {
        ($($table:ident $(- $hidden:literal)*),* $(,)?) => {
            $( export.table::<$table::Entity>(db, stringify!($table), agency_id, &[$($hidden),*]).await?; )*
        };
    }
    tables!(
        membership,
        membership_brand,
        invitation - "token_hash",
        api_key - "secret_hash",
        brand,
        brand_value,
        competitor,
        source,
        mention - "search_text",
        brand_influencer,
        interaction,
        idea,
        sla_policy,
        ticket,
        alert,
        csr_pillar,
        content_item,
        content_review,
        content_comment,
        report_share - "token_hash",
        webhook_endpoint - "secret" - "previous_secret" - "previous_secret_expires_at",
        event,
        audit_log,
    );
    // Link tables hold no agency id: they follow their parents' rows.
    export.linked::<alert_event::Entity>(db, "alert_event", "alert", "alert_id").await?;
    export.linked::<alert_mention::Entity>(db, "alert_mention", "alert", "alert_id").await?;
    export.linked::<content_item_pillar::Entity>(db, "content_item_pillar", "content_item", "content_item_id").await?;
    export.linked::<content_item_value::Entity>(db, "content_item_value", "content_item", "content_item_id").await?;
    let ids: Vec<Uuid> = std::mem::take(&mut export.authors).into_iter().collect();
    for chunk in ids.chunks(EXPORT_PAGE as usize) {
        let profiles =
            author::Entity::find().filter(author::Column::Id.is_in(chunk.to_vec())).into_json().all(db).await?;
        for profile in profiles {
            export.line("author", profile)?;
        }
    }
    Ok(export.written)
}

struct Export<'a, W: Write> {
    out: &'a mut W,
    written: u64,
    /// The authors the exported mentions name.
    authors: BTreeSet<Uuid>,
    /// The ids of exported rows that link tables point to, by table.
    parents: BTreeMap<&'static str, Vec<Uuid>>,
}

impl<W: Write> Export<'_, W> {
    fn line(&mut self, table: &str, row: JsonValue) -> Result<()> {
        serde_json::to_writer(&mut *self.out, &json!({ "table": table, "row": row }))
            .and_then(|()| self.out.write_all(b"\n").map_err(serde_json::Error::io))
            .map_err(|e| Error::internal_from("cannot write the export", e))?;
        self.written += 1;
        Ok(())
    }

    /// Every row of `E` that belongs to the agency, in keyset pages on `id` where the
    /// table has one (link tables are small and read whole), without the `hidden`
    /// columns.
    async fn table<E: EntityTrait>(
        &mut self,
        db: &impl ConnectionTrait,
        name: &str,
        agency_id: Uuid,
        hidden: &[&str],
    ) -> Result<()> {
        let column = |name: &str| E::Column::from_str(name).ok();
        let agency = column("agency_id").ok_or_else(|| Error::internal(format!("{name} has no agency_id")))?;
        let id = column("id");
        let mut after: Option<Uuid> = None;
        loop {
            let mut select = E::find().filter(agency.eq(agency_id));
            if let Some(id) = id {
                select = select.order_by_asc(id).limit(EXPORT_PAGE);
                if let Some(last) = after {
                    select = select.filter(id.gt(last));
                }
            }
            let rows = select.into_json().all(db).await?;
            let full = id.is_some() && rows.len() as u64 == EXPORT_PAGE;
            after = rows.last().and_then(|row| row["id"].as_str()).and_then(|id| id.parse().ok());
            for mut row in rows {
                if let Some(fields) = row.as_object_mut() {
                    for column in hidden {
                        fields.remove(*column);
                    }
                    if name == "mention"
                        && let Some(author) =
                            fields.get("author_id").and_then(JsonValue::as_str).and_then(|a| a.parse().ok())
                    {
                        self.authors.insert(author);
                    }
                    if let Some(parent) = LINKED_PARENTS.iter().find(|parent| **parent == name)
                        && let Some(id) = fields.get("id").and_then(JsonValue::as_str).and_then(|id| id.parse().ok())
                    {
                        self.parents.entry(parent).or_default().push(id);
                    }
                }
                self.line(name, row)?;
            }
            if !full {
                return Ok(());
            }
        }
    }
}

/// The tables whose rows link tables point to.
const LINKED_PARENTS: [&str; 2] = ["alert", "content_item"];

impl<W: Write> Export<'_, W> {
    /// The rows of a link table `E` whose `column` names an exported row of `parent`.
    async fn linked<E: EntityTrait>(
        &mut self,
        db: &impl ConnectionTrait,
        name: &str,
        parent: &str,
        column: &str,
    ) -> Result<()> {
        let column = E::Column::from_str(column).map_err(|_| Error::internal(format!("{name} has no {column}")))?;
        let parents = self.parents.get(parent).cloned().unwrap_or_default();
        for chunk in parents.chunks(EXPORT_PAGE as usize) {
            for row in E::find().filter(column.is_in(chunk.to_vec())).into_json().all(db).await? {
                self.line(name, row)?;
            }
        }
        Ok(())
    }
}

/// What [`erase_author`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Erased {
    /// Mentions blanked, in every agency.
    pub mentions: u64,
    /// Agencies that held the author (each keeps an audit row of the erasure).
    pub agencies: usize,
}

/// What identifies the erased author in stored JSON and text.
struct Marks {
    handle: String,
    strings: HashSet<String>,
    texts: Vec<String>,
}

impl Marks {
    /// Whether a stored string names the author: one of their ids, a spelling of their
    /// handle, one of their posts' ids, links or texts.
    fn names(&self, value: &str) -> bool {
        self.strings.contains(value) || crate::mentions::store::normalise_handle(value) == self.handle
    }

    /// Whether free text (an email body) quotes the author or one of their posts.
    fn quoted_in(&self, text: &str) -> bool {
        text.to_lowercase().contains(&format!("@{}", self.handle))
            || self.texts.iter().any(|t| text.contains(t.as_str()))
            || self.strings.iter().any(|s| s.len() > 8 && text.contains(s.as_str()))
    }

    /// Removes from `value` every object that names the author (an alert's top author,
    /// a piece of evidence); returns whether `value` itself does, for its parent to drop.
    fn scrub(&self, value: &mut JsonValue) -> bool {
        match value {
            JsonValue::String(s) => self.names(s),
            JsonValue::Array(items) => {
                items.retain_mut(|item| !self.scrub(item));
                false
            }
            JsonValue::Object(fields) => {
                if fields.values().any(|v| v.as_str().is_some_and(|s| self.names(s))) {
                    return true;
                }
                for field in fields.values_mut() {
                    if self.scrub(field) {
                        *field = JsonValue::Null;
                    }
                }
                false
            }
            _ => false,
        }
    }

    /// `value` scrubbed, or a marker in its place when the whole of it is about the author.
    fn scrubbed(&self, mut value: JsonValue) -> Option<JsonValue> {
        let before = value.clone();
        if self.scrub(&mut value) {
            return Some(json!({ "erased": true }));
        }
        (value != before).then_some(value)
    }
}

/// Erases one author on request, across every agency: their mentions lose text, link
/// and post id (their counts stay, so past reports still add up); their profile, every
/// agency's CRM record of them and their pending influence marks are deleted; replies to
/// them lose the reference; alert evidence, stored events, webhook deliveries and emails
/// that name them are scrubbed. Each agency that held them keeps an audit row naming no
/// one (a keyed hash of network and handle, to answer a repeated request). The handle
/// matches with or without `@`, in any case. Unknown authors are "not found".
pub async fn erase_author(services: &Services, _: &Operator, network: &str, handle: &str) -> Result<Erased> {
    use crate::entities::{alert, email_outbox, event, influencer_stale, webhook_delivery};
    let wanted = crate::mentions::store::normalise_handle(handle);
    let txn = crate::platform::db::begin_write(&services.db).await?;
    // Handles are stored as networks and pushing tools wrote them; the database narrows
    // the spellings, Rust compares them (SQLite's LOWER folds ASCII only).
    let spellings = [handle.trim().to_owned(), wanted.clone(), format!("@{wanted}")];
    let lowered = Expr::expr(Func::lower(Expr::col(author::Column::Handle)));
    let profiles: Vec<author::Model> = author::Entity::find()
        .filter(author::Column::Network.eq(network))
        .filter(
            Condition::any()
                .add(author::Column::Handle.is_in(spellings.clone()))
                .add(lowered.is_in([wanted.clone(), format!("@{wanted}")])),
        )
        .lock_exclusive()
        .all(&txn)
        .await?
        .into_iter()
        .filter(|a| crate::mentions::store::normalise_handle(&a.handle) == wanted)
        .collect();
    if profiles.is_empty() {
        return Err(Error::NotFound("author"));
    }
    let ids: Vec<Uuid> = profiles.iter().map(|a| a.id).collect();
    let posts = mention::Entity::find().filter(mention::Column::AuthorId.is_in(ids.clone())).all(&txn).await?;
    let mut marks = Marks { handle: wanted.clone(), strings: HashSet::new(), texts: Vec::new() };
    marks.strings.extend(ids.iter().map(Uuid::to_string));
    let mut per_agency: BTreeMap<Uuid, u64> = BTreeMap::new();
    for post in &posts {
        marks.strings.insert(post.external_id.clone());
        marks.strings.extend(post.url.clone());
        if post.text.chars().count() >= 12 {
            marks.texts.push(post.text.clone());
        }
        *per_agency.entry(post.agency_id).or_default() += 1;
        // A post id of Vigie's making keeps (source, external id) unique without naming
        // the account (networks' ids and URIs often do).
        mention::Entity::update_many()
            .col_expr(mention::Column::Text, Expr::value(""))
            .col_expr(mention::Column::SearchText, Expr::value(""))
            .col_expr(mention::Column::Url, Expr::value(Option::<String>::None))
            .col_expr(mention::Column::AuthorId, Expr::value(Option::<Uuid>::None))
            .col_expr(mention::Column::ExternalId, Expr::value(format!("erased:{}", post.id)))
            .filter(mention::Column::Id.eq(post.id))
            .exec(&txn)
            .await?;
    }
    // Share of voice keeps a copy of who wrote what, by mention.
    for chunk in posts.chunks(500) {
        mention_competitor::Entity::update_many()
            .col_expr(mention_competitor::Column::AuthorId, Expr::value(Option::<Uuid>::None))
            .col_expr(mention_competitor::Column::AuthorFollowers, Expr::value(Option::<i64>::None))
            .filter(mention_competitor::Column::MentionId.is_in(chunk.iter().map(|p| p.id)))
            .exec(&txn)
            .await?;
    }
    let external: Vec<String> = posts.iter().map(|p| p.external_id.clone()).collect();
    for chunk in external.chunks(500) {
        mention::Entity::update_many()
            .col_expr(mention::Column::InReplyTo, Expr::value(Option::<String>::None))
            .filter(mention::Column::InReplyTo.is_in(chunk.to_vec()))
            .exec(&txn)
            .await?;
    }
    let replied = Expr::expr(Func::lower(Expr::col(mention::Column::InReplyToAuthor)));
    mention::Entity::update_many()
        .col_expr(mention::Column::InReplyToAuthor, Expr::value(Option::<String>::None))
        .filter(mention::Column::Network.eq(network))
        .filter(
            Condition::any()
                .add(mention::Column::InReplyToAuthor.is_in(spellings))
                .add(replied.is_in([wanted.clone(), format!("@{wanted}")])),
        )
        .exec(&txn)
        .await?;
    influencer_stale::Entity::delete_many()
        .filter(influencer_stale::Column::AuthorId.is_in(ids.clone()))
        .exec(&txn)
        .await?;
    // The CRM records (`brand_influencer`, and what hangs on them) go with the profile.
    author::Entity::delete_many().filter(author::Column::Id.is_in(ids.clone())).exec(&txn).await?;

    let agencies: Vec<Uuid> = per_agency.keys().copied().collect();
    for_each_row::<alert::Entity, _>(&txn, &agencies, |mut row| {
        let explanation = marks.scrubbed(row.explanation.clone());
        let metrics = marks.scrubbed(row.metrics.clone());
        if explanation.is_none() && metrics.is_none() {
            return None;
        }
        row.explanation = explanation.unwrap_or(row.explanation);
        row.metrics = metrics.unwrap_or(row.metrics);
        Some(row)
    })
    .await?;
    for_each_row::<event::Entity, _>(&txn, &agencies, |mut row| {
        row.payload = marks.scrubbed(row.payload.clone())?;
        Some(row)
    })
    .await?;
    for_each_row::<webhook_delivery::Entity, _>(&txn, &agencies, |mut row| {
        let payload = serde_json::from_str(&row.payload).ok()?;
        row.payload = marks.scrubbed(payload)?.to_string();
        Some(row)
    })
    .await?;
    for_each_row::<email_outbox::Entity, _>(&txn, &agencies, |mut row| {
        let quoted = marks.quoted_in(&row.text_body) || row.html_body.as_deref().is_some_and(|h| marks.quoted_in(h));
        if !quoted {
            return None;
        }
        row.text_body = "[erased on request]".into();
        row.html_body = None;
        Some(row)
    })
    .await?;

    let subject = subject_of(&services.config.jwt_secret, network, &wanted);
    for (agency_id, blanked) in &per_agency {
        let detail = json!({ "subject": subject, "mentions_blanked": blanked });
        audit::record_by_operator(&txn, *agency_id, "author.erased", "author", None, detail).await?;
    }
    txn.commit().await?;
    tracing::info!(authors = ids.len(), mentions = posts.len(), agencies = per_agency.len(), "author erased");
    Ok(Erased { mentions: posts.len() as u64, agencies: per_agency.len() })
}

/// Who was erased, as an audit row keeps it: a hash keyed with the server's secret, so
/// that a list of public handles cannot be matched against it.
fn subject_of(key: &[u8], network: &str, handle: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{network}:{handle}").as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Calls `change` on every row of `E` of `agencies`, a page at a time, and writes back
/// the rows it returns.
async fn for_each_row<E, F>(db: &impl ConnectionTrait, agencies: &[Uuid], mut change: F) -> Result<()>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel> + Clone,
    E::ActiveModel: ActiveModelTrait<Entity = E> + ActiveModelBehavior + Send,
    F: FnMut(E::Model) -> Option<E::Model>,
{
    let column = |name: &str| E::Column::from_str(name).map_err(|_| Error::internal(format!("no column {name}")));
    let (agency, id) = (column("agency_id")?, column("id")?);
    let mut after: Option<Uuid> = None;
    loop {
        let mut select = E::find().filter(agency.is_in(agencies.iter().copied())).order_by_asc(id).limit(EXPORT_PAGE);
        if let Some(last) = after {
            select = select.filter(id.gt(last));
        }
        let rows = select.all(db).await?;
        let full = rows.len() as u64 == EXPORT_PAGE;
        let Some(last) = rows.last() else { return Ok(()) };
        let sea_orm::Value::Uuid(Some(last)) = last.get(id) else {
            return Err(Error::internal("a row without a UUID id"));
        };
        after = Some(last);
        for row in rows {
            if let Some(changed) = change(row) {
                changed.into_active_model().reset_all().update(db).await?;
            }
        }
        if !full {
            return Ok(());
        }
    }
}
