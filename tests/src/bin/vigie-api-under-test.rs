//! The real `vigie-api` command line, built inside this package so the tests can
//! start it as a process and watch its memory (Cargo only exposes a package's own
//! binaries to its tests).

#[tokio::main]
async fn main() {
    vigie_api::run_command(std::env::args().skip(1).collect()).await;
}
