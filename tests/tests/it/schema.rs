//! `schema.graphql` is printed from the code; this fails when the file is stale.

#[test]
fn schema_graphql_is_up_to_date() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let generated = vigie_api::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -p vigie-api -- print-schema > schema.graphql` (or UPDATE_SCHEMA=1 cargo test -p vigie-tests schema)"
    );
}
