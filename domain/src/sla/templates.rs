//! Reply templates: a brand's library of frequent answers, per language, with
//! variables (`{{author}}`, `{{brand}}`, `{{agent}}`) filled in for a ticket by
//! [`render`]. Agency staff who work on the brand keep them; a template is checked when
//! saved, so rendering never fails on a typo.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::entities::{author, brand, mention, reply_template, ticket, user_account};
use crate::platform::pagination::{self, Page, PageRequest};
use crate::platform::{audit, validate};
use crate::{Actor, Error, Result, Services, new_id, now};

/// The variables a template may use.
pub const VARIABLES: [&str; 3] = ["author", "brand", "agent"];
/// Templates a brand may keep.
pub const MAX_PER_BRAND: u64 = 200;
const MAX_BODY: usize = 2_000;

/// A piece of a template: text as written, or a variable.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Text(&'a str),
    Variable(&'a str),
}

/// Splits a body into text and `{{variable}}` parts, refusing unknown variables and
/// unclosed braces.
fn parse(body: &str) -> Result<Vec<Part<'_>>> {
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| Error::bad_input("body", "a `{{` is not closed by `}}`"))?;
        let name = after[..close].trim();
        if !VARIABLES.contains(&name) {
            return Err(Error::bad_input(
                "body",
                format!(
                    "unknown variable `{{{{{name}}}}}`: use {}",
                    VARIABLES.map(|v| format!("{{{{{v}}}}}")).join(", ")
                ),
            ));
        }
        parts.push(Part::Variable(name));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

/// A language code as templates keep it: two or three lowercase letters (`fr`, `en`).
fn language(raw: &str) -> Result<String> {
    let code = raw.trim().to_lowercase();
    if !(2..=3).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(Error::bad_input("language", "a language code such as `fr` or `en`"));
    }
    Ok(code)
}

/// A new template.
pub struct NewTemplate {
    pub brand_id: Uuid,
    pub name: String,
    pub language: String,
    pub body: String,
}

/// Changes to a template; `None` leaves a field unchanged.
#[derive(Default)]
pub struct TemplatePatch {
    pub name: Option<String>,
    pub language: Option<String>,
    pub body: Option<String>,
}

fn checked_body(raw: &str) -> Result<String> {
    let body = validate::name("body", raw, MAX_BODY)?;
    parse(&body)?;
    Ok(body)
}

/// One template of a brand the caller works on (staff).
pub async fn get(db: &impl ConnectionTrait, actor: &Actor, id: Uuid) -> Result<reply_template::Model> {
    actor.require_staff()?;
    reply_template::Entity::find_by_id(id)
        .filter(reply_template::Column::AgencyId.eq(actor.agency_id))
        .one(db)
        .await?
        .filter(|t| actor.sees_brand(t.brand_id))
        .ok_or(Error::NotFound("reply template"))
}

/// A brand's templates, oldest first, optionally in one language (staff).
pub async fn list(
    services: &Services,
    actor: &Actor,
    brand_id: Uuid,
    language_code: Option<&str>,
    page: PageRequest,
) -> Result<Page<reply_template::Model>> {
    actor.require_staff()?;
    let brand = actor.check_brand(&services.db, brand_id).await?;
    let mut select = reply_template::Entity::find()
        .filter(reply_template::Column::AgencyId.eq(actor.agency_id))
        .filter(reply_template::Column::BrandId.eq(brand));
    if let Some(code) = language_code {
        select = select.filter(reply_template::Column::Language.eq(language(code)?));
    }
    pagination::fetch(&services.db, select, reply_template::Column::Id, pagination::Direction::Ascending, page).await
}

/// Adds a template to a brand's library (staff who work on the brand).
pub async fn create(services: &Services, actor: &Actor, input: NewTemplate) -> Result<reply_template::Model> {
    actor.require_staff()?;
    let brand = actor.brand(&services.db, input.brand_id).await?;
    let name = validate::name("name", &input.name, 100)?;
    let (language, body) = (language(&input.language)?, checked_body(&input.body)?);
    let txn = crate::platform::db::begin_write(&services.db).await?;
    crate::agencies::lock(&txn, actor.agency_id).await?;
    let count = reply_template::Entity::find().filter(reply_template::Column::BrandId.eq(brand.id)).count(&txn).await?;
    if count >= MAX_PER_BRAND {
        return Err(Error::bad_input("brandId", format!("a brand keeps at most {MAX_PER_BRAND} reply templates")));
    }
    let at = now();
    let created = reply_template::ActiveModel {
        id: Set(new_id()),
        agency_id: Set(actor.agency_id),
        brand_id: Set(brand.id),
        name: Set(name),
        language: Set(language),
        body: Set(body),
        created_at: Set(at),
        updated_at: Set(at),
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, actor, "reply_template.created", "reply_template", Some(created.id), serde_json::json!({}))
        .await?;
    txn.commit().await?;
    Ok(created)
}

/// Edits a template (staff who work on its brand).
pub async fn update(
    services: &Services,
    actor: &Actor,
    id: Uuid,
    patch: TemplatePatch,
) -> Result<reply_template::Model> {
    let existing = get(&services.db, actor, id).await?;
    let mut model: reply_template::ActiveModel = existing.into();
    if let Some(name) = patch.name {
        model.name = Set(validate::name("name", &name, 100)?);
    }
    if let Some(code) = patch.language {
        model.language = Set(language(&code)?);
    }
    if let Some(body) = patch.body {
        model.body = Set(checked_body(&body)?);
    }
    model.updated_at = Set(now());
    let txn = crate::platform::db::begin_write(&services.db).await?;
    let updated = model.update(&txn).await?;
    audit::record(&txn, actor, "reply_template.updated", "reply_template", Some(id), serde_json::json!({})).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a template (staff who work on its brand).
pub async fn delete(services: &Services, actor: &Actor, id: Uuid) -> Result<()> {
    let existing = get(&services.db, actor, id).await?;
    let txn = crate::platform::db::begin_write(&services.db).await?;
    reply_template::Entity::delete_by_id(existing.id).exec(&txn).await?;
    audit::record(&txn, actor, "reply_template.deleted", "reply_template", Some(id), serde_json::json!({})).await?;
    txn.commit().await?;
    Ok(())
}

/// A template filled in for a ticket: `{{author}}` is the post's author (`@handle`),
/// `{{brand}}` the brand's name and `{{agent}}` the caller's name.
pub async fn render(services: &Services, actor: &Actor, id: Uuid, ticket_id: Uuid) -> Result<String> {
    let template = get(&services.db, actor, id).await?;
    let ticket = super::tickets::get(&services.db, actor, ticket_id).await?;
    if ticket.brand_id != template.brand_id {
        return Err(Error::bad_input("ticketId", "the template belongs to another brand"));
    }
    let db = &services.db;
    let brand = brand::Entity::find_by_id(ticket.brand_id).one(db).await?.ok_or(Error::NotFound("brand"))?;
    let handle = author_of(db, &ticket).await?;
    let agent = user_account::Entity::find_by_id(actor.user_id).one(db).await?.map(|u| u.name).unwrap_or_default();
    let mut text = String::with_capacity(template.body.len());
    for part in parse(&template.body)? {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Variable("author") => text.push_str(&handle.as_deref().map(|h| format!("@{h}")).unwrap_or_default()),
            Part::Variable("brand") => text.push_str(&brand.name),
            Part::Variable(_) => text.push_str(&agent),
        }
    }
    Ok(text)
}

async fn author_of(db: &impl ConnectionTrait, ticket: &ticket::Model) -> Result<Option<String>> {
    let Some(post) = mention::Entity::find_by_id(ticket.mention_id).one(db).await? else { return Ok(None) };
    let Some(author_id) = post.author_id else { return Ok(None) };
    Ok(author::Entity::find_by_id(author_id).one(db).await?.map(|a| a.handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_variables_and_refuses_unknown_ones() {
        assert_eq!(
            parse("Bonjour {{ author }}, merci ! {{agent}} pour {{brand}}").unwrap(),
            vec![
                Part::Text("Bonjour "),
                Part::Variable("author"),
                Part::Text(", merci ! "),
                Part::Variable("agent"),
                Part::Text(" pour "),
                Part::Variable("brand"),
            ]
        );
        assert_eq!(parse("no variable").unwrap(), vec![Part::Text("no variable")]);
        assert!(parse("Hi {{name}}").unwrap_err().to_string().contains("unknown variable `{{name}}`"));
        assert!(parse("Hi {{author").is_err());
        assert!(language("FR").is_ok_and(|l| l == "fr"));
        assert!(language("french").is_err());
    }
}
