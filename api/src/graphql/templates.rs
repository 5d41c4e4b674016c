//! Reply templates: a brand's library of frequent answers (agency staff).

use super::node::{NodeKind, global_id};
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use vigie_domain::entities::reply_template;
use vigie_domain::sla::templates::{self, NewTemplate, TemplatePatch};

use super::brands::DeletePayload;
use super::pagination::{self, Cursor, uuid};
use super::{actor, services};

/// A frequent answer, in one language, with `{{author}}`, `{{brand}}` and `{{agent}}`
/// variables.
pub struct ReplyTemplate(pub reply_template::Model);

#[Object]
impl ReplyTemplate {
    pub(crate) async fn id(&self) -> ID {
        global_id(NodeKind::ReplyTemplate, self.0.id)
    }
    async fn brand_id(&self) -> ID {
        global_id(NodeKind::Brand, self.0.brand_id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// A language code (`fr`, `en`).
    async fn language(&self) -> &str {
        &self.0.language
    }
    async fn body(&self) -> &str {
        &self.0.body
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A new template.
#[derive(InputObject)]
pub struct CreateReplyTemplateInput {
    brand_id: ID,
    name: String,
    /// `fr`, `en`…
    language: String,
    /// Up to 2,000 characters; variables: `{{author}}` (the post's author, `@handle`),
    /// `{{brand}}`, `{{agent}}` (who answers).
    body: String,
}

/// Changes to a template; omitted fields are unchanged.
#[derive(InputObject)]
pub struct UpdateReplyTemplateInput {
    id: ID,
    name: Option<String>,
    language: Option<String>,
    body: Option<String>,
}

#[derive(Default)]
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// A brand's reply templates, oldest first, optionally in one language (agency staff).
    #[graphql(complexity = "pagination::complexity(child_complexity, first)")]
    async fn reply_templates(
        &self,
        ctx: &Context<'_>,
        brand_id: ID,
        language: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<Cursor, ReplyTemplate>> {
        let had_cursor = after.is_some();
        let page = templates::list(
            services(ctx),
            actor(ctx)?,
            uuid("brandId", &brand_id)?,
            language.as_deref(),
            pagination::request(first, after)?,
        )
        .await?;
        Ok(pagination::connection(page, had_cursor, |t| Cursor(t.id), ReplyTemplate))
    }

    /// A template filled in for a ticket of its brand, ready to edit and send.
    async fn render_reply_template(&self, ctx: &Context<'_>, id: ID, ticket_id: ID) -> Result<String> {
        Ok(templates::render(services(ctx), actor(ctx)?, uuid("id", &id)?, uuid("ticketId", &ticket_id)?).await?)
    }
}

#[derive(Default)]
pub struct TemplateMutation;

#[Object]
impl TemplateMutation {
    /// Adds a template to a brand's library (agency staff who work on the brand).
    async fn create_reply_template(&self, ctx: &Context<'_>, input: CreateReplyTemplateInput) -> Result<ReplyTemplate> {
        let created = templates::create(
            services(ctx),
            actor(ctx)?,
            NewTemplate {
                brand_id: uuid("brandId", &input.brand_id)?,
                name: input.name,
                language: input.language,
                body: input.body,
            },
        )
        .await?;
        Ok(ReplyTemplate(created))
    }

    async fn update_reply_template(&self, ctx: &Context<'_>, input: UpdateReplyTemplateInput) -> Result<ReplyTemplate> {
        let patch = TemplatePatch { name: input.name, language: input.language, body: input.body };
        Ok(ReplyTemplate(templates::update(services(ctx), actor(ctx)?, uuid("id", &input.id)?, patch).await?))
    }

    async fn delete_reply_template(&self, ctx: &Context<'_>, id: ID) -> Result<DeletePayload> {
        templates::delete(services(ctx), actor(ctx)?, uuid("id", &id)?).await?;
        Ok(DeletePayload { deleted_id: id })
    }
}
