//! Outgoing HTTP (collectors today, webhooks next): one client with timeouts, a cap on
//! body size, and a guard that refuses loopback, private, link-local and other
//! non-public addresses, checked on every resolved address and every redirect, unless
//! the operator allows them (`VIGIE_ALLOW_PRIVATE_WEBHOOKS`, for tests).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// Largest body read from a network (5 MiB); a larger one is an error, not a crash.
pub const MAX_BODY: usize = 5 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused to contact {0}: not a public address")]
    Refused(String),
    #[error("invalid URL: {0}")]
    BadUrl(String),
    #[error("network error: {0}")]
    Network(String),
    #[error("the response is larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// A response read in full.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The shared outgoing client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    allow_private: bool,
}

/// Whether an address is one the public internet can reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link-local
        }
    }
}

const NO_PUBLIC_ADDRESS: &str = "resolves to no public address";

/// An error and its causes, on one line (reqwest's own message omits them).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Resolves names, then drops every non-public address.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::task::spawn_blocking(move || (host.as_str(), 0).to_socket_addrs().map(Iterator::collect))
                    .await
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)??;
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{} {NO_PUBLIC_ADDRESS}", name.as_str()).into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

impl Http {
    /// A client; `allow_private` lifts the address guard.
    pub fn new(allow_private: bool) -> crate::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("Vigie/", env!("CARGO_PKG_VERSION"), " (+https://vigie.example/bot)"))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20));
        if allow_private {
            builder = builder.redirect(reqwest::redirect::Policy::limited(5));
        } else {
            builder =
                builder.dns_resolver(Arc::new(PublicOnly)).redirect(reqwest::redirect::Policy::custom(|attempt| {
                    if attempt.previous().len() >= 5 {
                        attempt.error("too many redirects")
                    } else if literal_ip(attempt.url()).is_some_and(|ip| !is_public(ip)) {
                        attempt.error("redirect to a non-public address")
                    } else {
                        attempt.follow()
                    }
                }));
        }
        let client = builder.build().map_err(|e| crate::Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Http { client, allow_private })
    }

    /// GETs `url` with `headers`, reading at most [`MAX_BODY`] bytes.
    pub async fn get(&self, url: &str, headers: HeaderMap) -> Result<Fetched, FetchError> {
        let parsed = self.target(url)?;
        let response = self.send(self.client.get(parsed).headers(headers)).await?;
        read(response, MAX_BODY, false).await
    }

    /// POSTs `body` to `url` within `timeout`, keeping at most `keep` bytes of the
    /// answer (a receiver's long answer is cut, not an error).
    pub async fn post(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Duration,
        keep: usize,
    ) -> Result<Fetched, FetchError> {
        let parsed = self.target(url)?;
        let response = self.send(self.client.post(parsed).headers(headers).body(body).timeout(timeout)).await?;
        read(response, keep, true).await
    }

    /// Checks, before it is stored, that a URL is http(s) and that its host resolves to
    /// public addresses only (unless private ones are allowed).
    pub async fn check_public(&self, url: &str) -> Result<(), FetchError> {
        let parsed = self.target(url)?;
        if self.allow_private || literal_ip(&parsed).is_some() {
            return Ok(());
        }
        let host = parsed.host_str().ok_or_else(|| FetchError::BadUrl("no host".into()))?.to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| FetchError::Network(format!("cannot resolve {host}: {e}")))?
            .collect();
        match addrs.iter().find(|a| !is_public(a.ip())) {
            Some(private) => Err(FetchError::Refused(format!("{host} resolves to {}", private.ip()))),
            None if addrs.is_empty() => Err(FetchError::Network(format!("{host} {NO_PUBLIC_ADDRESS}"))),
            None => Ok(()),
        }
    }

    fn target(&self, url: &str) -> Result<reqwest::Url, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl("only http and https are fetched".into()));
        }
        if !self.allow_private
            && let Some(ip) = literal_ip(&parsed)
            && !is_public(ip)
        {
            return Err(FetchError::Refused(ip.to_string()));
        }
        Ok(parsed)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, FetchError> {
        request.send().await.map_err(|e| {
            let text = chain(&e);
            if text.contains(NO_PUBLIC_ADDRESS) { FetchError::Refused(text) } else { FetchError::Network(text) }
        })
    }
}

/// Reads a body up to `limit` bytes: past it, either an error or (`truncate`) the cut.
async fn read(mut response: reqwest::Response, limit: usize, truncate: bool) -> Result<Fetched, FetchError> {
    if !truncate && response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(FetchError::TooLarge);
    }
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Network(chain(&e)))? {
        if body.len() + chunk.len() > limit {
            if truncate {
                body.extend_from_slice(&chunk[..limit - body.len()]);
                break;
            }
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched { status, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn refuses_private_targets_unless_allowed() {
        let http = Http::new(false).unwrap();
        assert!(matches!(http.get("http://127.0.0.1:9/feed", HeaderMap::new()).await, Err(FetchError::Refused(_))));
        let named = http.get("http://localhost:9/feed", HeaderMap::new()).await;
        assert!(matches!(named, Err(FetchError::Refused(_))), "{named:?}");
        assert!(matches!(http.get("file:///etc/passwd", HeaderMap::new()).await, Err(FetchError::BadUrl(_))));
        let open = Http::new(true).unwrap();
        assert!(matches!(open.get("http://127.0.0.1:9/feed", HeaderMap::new()).await, Err(FetchError::Network(_))));
    }
}
