//! `vigie-worker`: see the library's documentation.

#[tokio::main]
async fn main() {
    vigie_worker::run().await;
}
