//! `vigie-api`: serve the API, or print the GraphQL schema.
//!
//! `vigie-api` (or `vigie-api serve`) starts the server; `vigie-api print-schema` writes
//! the SDL that `schema.graphql` must match.

#[tokio::main]
async fn main() {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    match command.as_str() {
        "print-schema" => print!("{}", vigie_api::graphql::sdl()),
        "serve" => vigie_api::serve_from_env().await,
        "-h" | "--help" | "help" => println!(
            "usage: vigie-api [serve | print-schema]\nConfiguration comes from environment variables; see README.md."
        ),
        other => {
            eprintln!("vigie-api: unknown command `{other}` (expected serve or print-schema)");
            std::process::exit(2);
        }
    }
}
