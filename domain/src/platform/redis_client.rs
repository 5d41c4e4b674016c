//! The one way Vigie reaches Redis (queue, bus, rate limits, persisted queries): plain
//! `redis://`, or `rediss://` over TLS verified against the system's roots or, with
//! `VIGIE_REDIS_CA`, against the operator's own authority.

use std::sync::Once;

use redis::{Client, RedisResult, TlsCertificates};

/// A client for `url`; `ca` (PEM) replaces the system's roots for `rediss://`.
pub fn open(url: &str, ca: Option<&[u8]>) -> RedisResult<Client> {
    install_crypto_provider();
    match ca {
        Some(pem) => Client::build_with_tls(url, TlsCertificates { client_tls: None, root_cert: Some(pem.to_vec()) }),
        None => Client::open(url),
    }
}

/// The redis crate builds its TLS settings from rustls's process-wide provider, which
/// rustls cannot choose alone when two are compiled in (ring through reqwest, aws-lc
/// through another dependency): ring is installed once, unless one already is.
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
