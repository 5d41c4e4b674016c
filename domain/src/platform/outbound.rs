//! Outgoing HTTP (collectors and webhooks): one client with timeouts, a cap on body
//! size, no proxy from the environment, and a guard that lets through only global
//! unicast addresses, checked on every connection's resolution and every redirect,
//! unless the operator allows private ones (`VIGIE_ALLOW_PRIVATE_WEBHOOKS`, for tests).
//! One exact URL may be exempted: the demo's own webhook receiver on the api.

use futures_util::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::HeaderMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

// reqwest's own messages omit their causes.
use crate::platform::error::chain;

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
    /// The same, following no redirect: for requests whose body holds credentials (a
    /// 307 or 308 would send it again elsewhere).
    direct: reqwest::Client,
    guard: Guard,
    allow_private: bool,
    exempt: Option<Exempt>,
}

/// The one URL the guard lets through (the operator's own, from configuration), with a
/// client that follows no redirect, so the exemption cannot be walked elsewhere.
#[derive(Clone)]
struct Exempt {
    url: reqwest::Url,
    client: reqwest::Client,
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&chrono::Utc);
    (at - chrono::Utc::now()).to_std().ok()
}

/// What a network's rate-limit headers say is left of its quota, and when it resets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub remaining: i32,
    pub resets_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The quota in an answer's headers, in the forms networks use: `ratelimit-*` (the IETF
/// draft, Bluesky), `x-ratelimit-*` (Mastodon, whose reset is a timestamp; Reddit, whose
/// counts are decimals and reset a number of seconds) and `x-rate-limit-*` (X, a Unix
/// time). A reset is read as a timestamp, as Unix seconds, or as seconds from now.
pub fn quota(headers: &HeaderMap) -> Option<Quota> {
    if let Some(meta) = meta_quota(headers) {
        return Some(meta);
    }
    let [remaining, reset] = [
        ["ratelimit-remaining", "ratelimit-reset"],
        ["x-ratelimit-remaining", "x-ratelimit-reset"],
        ["x-rate-limit-remaining", "x-rate-limit-reset"],
    ]
    .into_iter()
    .find(|[remaining, _]| headers.contains_key(*remaining))?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let left = text(remaining)?.parse::<f64>().ok().filter(|n| n.is_finite())?;
    let resets_at = text(reset).and_then(|raw| {
        if let Ok(at) = chrono::DateTime::parse_from_rfc3339(raw) {
            return Some(at.with_timezone(&chrono::Utc));
        }
        let n = raw.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)? as i64;
        // Past a hundred billion, Unix milliseconds; past a billion, a Unix time (2001
        // onwards); below, seconds from now.
        match n {
            100_000_000_000.. => chrono::DateTime::from_timestamp_millis(n),
            1_000_000_000.. => chrono::DateTime::from_timestamp(n, 0),
            _ => chrono::Utc::now().checked_add_signed(chrono::Duration::seconds(n)),
        }
    });
    // A reset further than a month away is a network's mistake, not a quota.
    let resets_at = resets_at.filter(|at| *at < chrono::Utc::now() + chrono::Duration::days(31));
    Some(Quota { remaining: left.clamp(0.0, f64::from(i32::MAX)) as i32, resets_at })
}

/// Meta's usage headers (`X-Business-Use-Case-Usage`, else `X-App-Usage`): JSON of
/// the percentages used of each limit; what is left is the percentage of the most used,
/// and a limit reached says in how many minutes access returns.
fn meta_quota(headers: &HeaderMap) -> Option<Quota> {
    use serde_json::Value;
    let read = |name: &str| -> Option<Value> { serde_json::from_str(headers.get(name)?.to_str().ok()?).ok() };
    let (uses, wait): (Vec<Value>, Option<u64>) = if let Some(usage) = read("x-business-use-case-usage") {
        let uses: Vec<Value> = usage.as_object()?.values().filter_map(Value::as_array).flatten().cloned().collect();
        let wait = uses.iter().filter_map(|u| u.get("estimated_time_to_regain_access")?.as_u64()).max();
        (uses, wait)
    } else {
        (vec![read("x-app-usage")?], None)
    };
    let used = uses
        .iter()
        .flat_map(|u| ["call_count", "total_cputime", "total_time"].map(|k| u.get(k).and_then(Value::as_f64)))
        .flatten()
        .filter(|n| n.is_finite())
        .fold(None::<f64>, |most, n| Some(most.map_or(n, |m| m.max(n))))?;
    let resets_at = wait
        .filter(|m| *m > 0 && *m <= 24 * 60)
        .and_then(|m| chrono::Utc::now().checked_add_signed(chrono::Duration::minutes(m as i64)));
    Some(Quota { remaining: (100.0 - used).clamp(0.0, 100.0) as i32, resets_at })
}

/// Whether an address is one the public internet can reach: global unicast only, so
/// no address that a relay or translator maps onto a private network either.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let [a, b, c, ..] = v6.segments();
            // 2000::/3 is the only global unicast block; inside it, 6to4 (2002::/16),
            // Teredo and other IETF blocks (2001::/23) and documentation (2001:db8::/32)
            // tunnel to or stand for addresses that are not the host's own. Outside it
            // lie NAT64 (64:ff9b::/96), IPv4-compatible (::a.b.c.d), site-local
            // (fec0::/10), unique and link-local, multicast, loopback.
            (a & 0xe000) == 0x2000
                && a != 0x2002
                && !(a == 0x2001 && b < 0x0200)
                && !(a == 0x2001 && b == 0x0db8)
                && !(a == 0x3fff && b < 0x1000) // documentation (RFC 9637)
                && !(a == 0x2620 && b == 0x004f && c == 0x8000) // AS112 sinks
        }
    }
}

fn is_public_v4(v4: Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_unspecified()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

const NO_PUBLIC_ADDRESS: &str = "resolves to no public address";

/// Name resolution, apart so that tests can answer differently on each call.
pub(crate) trait Lookup: Send + Sync {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The system resolver.
struct System;

impl Lookup for System {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                (host.as_str(), 0).to_socket_addrs().map(|addrs| addrs.map(|a| a.ip()).collect())
            })
            .await
            .map_err(std::io::Error::other)?
        })
    }
}

/// Which addresses may be contacted, and how names become addresses. Every connection
/// resolves again through it, so a name that answered a public address when it was
/// stored and a private one now (DNS rebinding) is refused.
#[derive(Clone)]
struct Guard {
    lookup: Arc<dyn Lookup>,
    allowed: fn(IpAddr) -> bool,
}

impl Guard {
    async fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, FetchError> {
        let addrs = self
            .lookup
            .lookup(host.to_owned())
            .await
            .map_err(|e| FetchError::Network(format!("cannot resolve {host}: {e}")))?;
        if addrs.is_empty() {
            return Err(FetchError::Network(format!("{host} {NO_PUBLIC_ADDRESS}")));
        }
        Ok(addrs)
    }
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.clone();
        Box::pin(async move {
            let host = name.as_str();
            let addrs =
                guard.resolve(host).await.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let public: Vec<SocketAddr> =
                addrs.into_iter().filter(|ip| (guard.allowed)(*ip)).map(|ip| SocketAddr::new(ip, 0)).collect();
            if public.is_empty() {
                return Err(format!("{host} {NO_PUBLIC_ADDRESS}").into());
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

/// The settings every outgoing client shares. A proxy from the environment would
/// resolve names itself, out of the guard's sight: none is used.
fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("Vigie/", env!("CARGO_PKG_VERSION"), " (+https://vigie.example/bot)"))
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .no_proxy()
}

impl Http {
    /// A client; `allow_private` lifts the address guard.
    pub fn new(allow_private: bool) -> crate::Result<Self> {
        let allowed = if allow_private { |_| true } else { is_public };
        Self::guarded(Guard { lookup: Arc::new(System), allowed }, allow_private)
    }

    fn guarded(guard: Guard, allow_private: bool) -> crate::Result<Self> {
        let allowed = guard.allowed;
        let client = builder()
            .dns_resolver(Arc::new(guard.clone()))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    attempt.error("too many redirects")
                } else if literal_ip(attempt.url()).is_some_and(|ip| !allowed(ip)) {
                    attempt.error("redirect to a non-public address")
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| crate::Error::internal_from("HTTP client", e))?;
        let direct = builder()
            .dns_resolver(Arc::new(guard.clone()))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::Error::internal_from("HTTP client", e))?;
        Ok(Http { client, direct, guard, allow_private, exempt: None })
    }

    /// This client, also letting through exactly `url` (scheme, host, port, path and
    /// query alike) wherever it points.
    pub fn exempting(mut self, url: &str) -> crate::Result<Self> {
        let url = reqwest::Url::parse(url).map_err(|e| crate::Error::internal_from("exempt URL", e))?;
        let client = builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| crate::Error::internal_from("HTTP client", e))?;
        self.exempt = Some(Exempt { url, client });
        Ok(self)
    }

    /// The exempt client, if `url` is the exempt URL.
    fn exempt_for(&self, url: &str) -> Option<&reqwest::Client> {
        let exempt = self.exempt.as_ref()?;
        (reqwest::Url::parse(url).ok()? == exempt.url).then_some(&exempt.client)
    }

    /// GETs `url` with `headers`, reading at most [`MAX_BODY`] bytes.
    pub async fn get(&self, url: &str, headers: HeaderMap) -> Result<Fetched, FetchError> {
        let parsed = self.target(url)?;
        let response = self.send(self.client.get(parsed).headers(headers)).await?;
        read(response, MAX_BODY, false).await
    }

    /// GETs `url` as [`Http::get`] does, following no redirect: for requests whose
    /// headers hold a credential that a redirect would carry to another host (an API
    /// key in a header of the API's own).
    pub async fn get_direct(&self, url: &str, headers: HeaderMap) -> Result<Fetched, FetchError> {
        let parsed = self.target(url)?;
        let response = self.send(self.direct.get(parsed).headers(headers)).await?;
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
        self.write(reqwest::Method::POST, url, headers, body, timeout, keep).await
    }

    /// PUTs `body` to `url`, as [`Http::post`] does.
    pub async fn put(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Duration,
        keep: usize,
    ) -> Result<Fetched, FetchError> {
        self.write(reqwest::Method::PUT, url, headers, body, timeout, keep).await
    }

    async fn write(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Duration,
        keep: usize,
    ) -> Result<Fetched, FetchError> {
        let request = match self.exempt_for(url) {
            Some(client) => client.request(method, url),
            None => self.client.request(method, self.target(url)?),
        };
        let response = self.send(request.headers(headers).body(body).timeout(timeout)).await?;
        read(response, keep, true).await
    }

    /// POSTs `body` as [`Http::post`] does, following no redirect: for bodies that hold
    /// credentials (an OAuth token request).
    pub async fn post_direct(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        timeout: Duration,
        keep: usize,
    ) -> Result<Fetched, FetchError> {
        let request = self.direct.post(self.target(url)?);
        let response = self.send(request.headers(headers).body(body).timeout(timeout)).await?;
        read(response, keep, true).await
    }

    /// Checks, before it is stored, that a URL is http(s) and that its host resolves to
    /// public addresses only (unless private ones are allowed).
    pub async fn check_public(&self, url: &str) -> Result<(), FetchError> {
        if self.exempt_for(url).is_some() {
            return Ok(());
        }
        let parsed = self.target(url)?;
        if self.allow_private || literal_ip(&parsed).is_some() {
            return Ok(());
        }
        let host = parsed.host_str().ok_or_else(|| FetchError::BadUrl("no host".into()))?;
        // One answer whether the name does not resolve or resolves inside: the caller
        // must not learn the operator's internal names and addresses from it.
        let refused = || FetchError::Refused(format!("{host} {NO_PUBLIC_ADDRESS}"));
        let addrs = self.guard.resolve(host).await.map_err(|error| {
            tracing::info!(error = %crate::platform::error::chain(&error), host, "URL refused: its host does not resolve");
            refused()
        })?;
        match addrs.iter().find(|ip| !(self.guard.allowed)(**ip)) {
            Some(private) => {
                tracing::info!(host, %private, "URL refused: its host resolves to a non-public address");
                Err(refused())
            }
            None => Ok(()),
        }
    }

    fn target(&self, url: &str) -> Result<reqwest::Url, FetchError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl("only http and https are fetched".into()));
        }
        if let Some(ip) = literal_ip(&parsed)
            && !(self.guard.allowed)(ip)
        {
            return Err(FetchError::Refused(ip.to_string()));
        }
        Ok(parsed)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<reqwest::Response, FetchError> {
        // Without its URL: a query may carry a credential (a token, an app secret), and
        // these errors reach logs and sources' `lastError`.
        request.send().await.map_err(|e| {
            let text = chain(&e.without_url());
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
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Network(chain(&e.without_url())))? {
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
    fn reads_the_quota_in_each_networks_form() {
        use reqwest::header::HeaderValue;
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            pairs.iter().for_each(|(k, v)| {
                map.insert(*k, HeaderValue::from_static(v));
            });
            map
        };
        let at = |secs| chrono::DateTime::from_timestamp(secs, 0);
        let bluesky = headers(&[("ratelimit-remaining", "2998"), ("ratelimit-reset", "1767225600")]);
        assert_eq!(quota(&bluesky), Some(Quota { remaining: 2998, resets_at: at(1_767_225_600) }));
        let mastodon = headers(&[("x-ratelimit-remaining", "299"), ("x-ratelimit-reset", "2027-01-01T00:00:00.000Z")]);
        assert_eq!(quota(&mastodon), Some(Quota { remaining: 299, resets_at: at(1_798_761_600) }));
        let x = headers(&[("x-rate-limit-remaining", "449"), ("x-rate-limit-reset", "1798761600")]);
        assert_eq!(quota(&x), Some(Quota { remaining: 449, resets_at: at(1_798_761_600) }));
        let reddit = quota(&headers(&[("x-ratelimit-remaining", "598.0"), ("x-ratelimit-reset", "420")])).unwrap();
        assert_eq!(reddit.remaining, 598);
        let wait = reddit.resets_at.unwrap() - chrono::Utc::now();
        assert!(wait > chrono::Duration::seconds(410) && wait <= chrono::Duration::seconds(420), "{wait}");
        let hostile = headers(&[("ratelimit-remaining", "-5"), ("ratelimit-reset", "soon")]);
        assert_eq!(quota(&hostile), Some(Quota { remaining: 0, resets_at: None }));
        assert_eq!(quota(&headers(&[("ratelimit-remaining", "NaN")])), None);
        let millis = quota(&headers(&[("ratelimit-remaining", "1"), ("ratelimit-reset", "1798761600000")])).unwrap();
        assert_eq!(millis.resets_at, at(1_798_761_600));
        let far = quota(&headers(&[("ratelimit-remaining", "1"), ("ratelimit-reset", "99999999999")])).unwrap();
        assert_eq!(far.resets_at, None, "year 5138 is no reset");
        assert_eq!(quota(&HeaderMap::new()), None);
    }

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
            "64:ff9b::a00:1",     // NAT64 of 10.0.0.1
            "64:ff9b::5db8:d822", // NAT64, even of a public address
            "2002:7f00:1::1",     // 6to4 of 127.0.0.1
            "::127.0.0.1",        // IPv4-compatible
            "::93.184.216.34",
            "192.0.0.170",
            "192.0.0.8",
            "fec0::1", // site-local
            "2001:db8::1",
            "2001::1", // Teredo
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "1.1.1.1", "2a00:1450:4007:80c::200e", "::ffff:1.1.1.1"] {
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

    #[tokio::test]
    async fn the_exemption_is_one_exact_url_and_follows_no_redirect() {
        let (port, hits) = serve([127, 0, 0, 1], ok());
        let exempt = format!("http://127.0.0.1:{port}/demo/webhooks");
        let http = Http::new(false).unwrap().exempting(&exempt).unwrap();
        http.check_public(&exempt).await.expect("the exempt URL");
        let posted = http.post(&exempt, HeaderMap::new(), b"{}".to_vec(), Duration::from_secs(5), 10).await.unwrap();
        assert_eq!((posted.status, hits.load(std::sync::atomic::Ordering::SeqCst)), (200, 1));
        for other in [
            format!("http://127.0.0.1:{port}/demo/webhooks?x=1"),
            format!("http://127.0.0.1:{port}/graphql"),
            format!("http://localhost:{port}/demo/webhooks"),
            format!("http://127.0.0.1:{}/demo/webhooks", port + 1),
        ] {
            assert!(matches!(http.check_public(&other).await, Err(FetchError::Refused(_))), "{other}");
            let sent = http.post(&other, HeaderMap::new(), Vec::new(), Duration::from_secs(5), 10).await;
            assert!(matches!(sent, Err(FetchError::Refused(_))), "{other}: {sent:?}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (private_port, private_hits) = serve([127, 0, 0, 1], ok());
        let (port, _) = serve([127, 0, 0, 1], redirect(&format!("http://127.0.0.1:{private_port}/admin")));
        let exempt = format!("http://127.0.0.1:{port}/demo/webhooks");
        let http = Http::new(false).unwrap().exempting(&exempt).unwrap();
        let posted = http.post(&exempt, HeaderMap::new(), Vec::new(), Duration::from_secs(5), 10).await.unwrap();
        assert_eq!(posted.status, 302, "the redirect is answered, not followed");
        assert_eq!(private_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    /// A resolver that answers from a table, moving to the next answer on each call.
    struct Scripted(std::sync::Mutex<Vec<(&'static str, Vec<IpAddr>)>>);

    impl Lookup for Scripted {
        fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
            let mut table = self.0.lock().unwrap();
            let at = table.iter().position(|(name, _)| *name == host);
            let answer = match at {
                Some(at) => {
                    let (_, ips) = &mut table[at];
                    vec![if ips.len() > 1 { ips.remove(0) } else { ips[0] }]
                }
                None => Vec::new(),
            };
            Box::pin(async move { Ok(answer) })
        }
    }

    /// In these tests 127.0.0.2 plays a public server, the rest of loopback stays private.
    fn public_or_stand_in(ip: IpAddr) -> bool {
        ip == IpAddr::from([127, 0, 0, 2]) || is_public(ip)
    }

    fn scripted(table: Vec<(&'static str, Vec<IpAddr>)>) -> Http {
        Http::guarded(
            Guard { lookup: Arc::new(Scripted(std::sync::Mutex::new(table))), allowed: public_or_stand_in },
            false,
        )
        .unwrap()
    }

    /// Serves every connection with `answer`, counting them.
    fn serve(bind: [u8; 4], answer: String) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind((IpAddr::from(bind), 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (port, hits)
    }

    fn ok() -> String {
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".into()
    }

    fn redirect(to: &str) -> String {
        format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
    }

    #[tokio::test]
    async fn a_name_that_rebinds_to_a_private_address_is_refused_at_connection() {
        let (port, _) = serve([127, 0, 0, 2], ok());
        let (_, private_hits) = serve([127, 0, 0, 1], ok());
        let http = scripted(vec![("rebind.test", vec![IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 1])])]);
        let url = format!("http://rebind.test:{port}/hook");
        http.check_public(&url).await.expect("the first answer is public");
        let second = http.get(&url, HeaderMap::new()).await;
        assert!(matches!(second, Err(FetchError::Refused(_))), "{second:?}");
        assert_eq!(private_hits.load(std::sync::atomic::Ordering::SeqCst), 0);

        let direct = scripted(vec![("public.test", vec![IpAddr::from([127, 0, 0, 2])])]);
        let fetched = direct.get(&format!("http://public.test:{port}/"), HeaderMap::new()).await.unwrap();
        assert_eq!(fetched.body, b"ok", "the stand-in public server is reachable");
    }

    #[tokio::test]
    async fn redirects_to_private_addresses_are_not_followed() {
        let (private_port, private_hits) = serve([127, 0, 0, 1], ok());
        for target in [
            format!("http://127.0.0.1:{private_port}/admin"),
            format!("http://[::ffff:127.0.0.1]:{private_port}/admin"),
            format!("http://internal.test:{private_port}/admin"),
        ] {
            let (port, hits) = serve([127, 0, 0, 2], redirect(&target));
            let http = scripted(vec![
                ("public.test", vec![IpAddr::from([127, 0, 0, 2])]),
                ("internal.test", vec![IpAddr::from([127, 0, 0, 1])]),
            ]);
            let result = http.get(&format!("http://public.test:{port}/feed"), HeaderMap::new()).await;
            assert!(result.is_err(), "{target}: {result:?}");
            assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1, "{target}");
        }
        assert_eq!(private_hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
