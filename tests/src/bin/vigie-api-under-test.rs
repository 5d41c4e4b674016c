//! The real `vigie-api serve` entry point, built inside this package so the tests can
//! start it as a process and watch its memory (Cargo only exposes a package's own
//! binaries to its tests).

#[tokio::main]
async fn main() {
    vigie_api::serve_from_env().await;
}
