//! `vigie-api`: serve the API, or print the GraphQL schema.
//!
//! `vigie-api` (or `vigie-api serve`) starts the server; `vigie-api print-schema` writes
//! the SDL that `schema.graphql` must match; `vigie-api demo reset` starts the embedded
//! database over with a fresh demo.

#[tokio::main]
async fn main() {
    vigie_api::run_command(std::env::args().skip(1).collect()).await;
}
