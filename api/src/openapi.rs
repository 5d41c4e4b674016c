//! The OpenAPI document of the REST routes (ingest, shared reports, calendar feeds,
//! health), generated from the handlers' annotations and the types they read and write,
//! served at `GET /openapi.json`. GraphQL has its own schema (`schema.graphql`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The body of every REST error: the same codes as GraphQL's `extensions.code`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `BAD_USER_INPUT`, `UNAUTHENTICATED`, `FORBIDDEN`, `NOT_FOUND`, `RATE_LIMITED`,
    /// `PAYLOAD_TOO_LARGE`, `UNAVAILABLE`, `INTERNAL_SERVER_ERROR`…
    #[schema(example = "UNAUTHENTICATED")]
    pub code: String,
    pub message: String,
}

/// What a share link or a calendar subscription gets instead of its content.
#[derive(utoipa::IntoResponses)]
pub enum ShareRefused {
    /// Unknown, revoked or expired token, or no such section (no body): all alike.
    #[response(status = 404)]
    NotFound,
    /// Too many requests without an account from this network.
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    RateLimited(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigie REST routes",
        description = "Mentions pushed by other tools, shared reports, calendar feeds and health. \
                       Everything else is GraphQL at /graphql (see schema.graphql).",
    ),
    paths(
        crate::http::ingest_mentions,
        crate::http::report_page,
        crate::http::report_csv,
        crate::http::calendar_feed,
        crate::http::oauth_callback,
        crate::http::meta_verification,
        crate::http::meta_delivery,
        crate::http::healthz,
        crate::http::readyz,
        crate::http::openapi_json,
    ),
    modifiers(&ApiKey),
    tags(
        (name = "ingest", description = "Mentions pushed with an API key"),
        (name = "sharing", description = "What a share link or a calendar subscription opens, without an account"),
        (name = "connections", description = "Where networks send a manager back after consenting (OAuth 2), and Meta's webhooks"),
        (name = "operations", description = "Probes and this document"),
    ),
)]
pub struct RestApi;

/// The API key scheme of `POST /ingest/mentions`.
struct ApiKey;

impl Modify for ApiKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("vgk_…")
            .description(Some("An API key made with `createApiKey`, as `Authorization: Bearer vgk_…`"))
            .build();
        components.add_security_scheme("apiKey", SecurityScheme::Http(scheme));
    }
}

/// The document, as served.
pub fn document() -> String {
    RestApi::openapi().to_pretty_json().expect("the OpenAPI document always serialises")
}
