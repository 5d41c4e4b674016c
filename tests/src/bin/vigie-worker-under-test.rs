//! The real `vigie-worker` entry point, built inside this package so the tests can start
//! it as a process (Cargo only exposes a package's own binaries to its tests).

#[tokio::main]
async fn main() {
    vigie_worker::run().await;
}
