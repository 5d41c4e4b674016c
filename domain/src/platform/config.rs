//! Configuration: read once from the environment, validated as a whole at start-up so an
//! operator sees every problem in one message, then shared as `Arc<Config>`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use url::Url;

/// Every setting Vigie reads. See the README's "Configuration" section.
#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL`; default: a SQLite file in the data directory.
    pub database_url: String,
    /// `REDIS_URL`; unset means the in-process queue with workers inside the api process.
    /// With `redis_cluster`, one or more seed nodes separated by commas.
    pub redis_url: Option<String>,
    /// `VIGIE_REDIS_CLUSTER`: `REDIS_URL` names a Redis Cluster.
    pub redis_cluster: bool,
    /// `VIGIE_REDIS_CA`: a PEM file of the certificate authorities a `rediss://` server
    /// is verified against, instead of the system's (a managed Redis's own CA).
    pub redis_ca: Option<Arc<[u8]>>,
    /// `VIGIE_BIND`, default `127.0.0.1:8080`.
    pub bind: SocketAddr,
    /// `VIGIE_PUBLIC_URL`, the base of links in emails and reports.
    pub public_url: Url,
    /// `VIGIE_DATA_DIR`, default `./data`.
    pub data_dir: PathBuf,
    /// HMAC key for access tokens (`VIGIE_JWT_SECRET`).
    pub jwt_secret: Vec<u8>,
    /// `VIGIE_SECRETS_KEY` (32 bytes in base64), which seals network credentials, and
    /// `VIGIE_SECRETS_KEY_PREVIOUS` (comma-separated), keys that still open what they
    /// sealed during a rotation. Unset with PostgreSQL: connections are refused; in the
    /// embedded mode a key is generated in the data directory.
    pub vault: crate::platform::vault::Vault,
    /// `SMTP_URL`; unset means emails are logged and kept in the outbox table.
    pub smtp_url: Option<String>,
    /// `VIGIE_MAIL_FROM`, the default sender address.
    pub mail_from: String,
    /// `VIGIE_ALLOW_PRIVATE_WEBHOOKS`: let outgoing requests (collectors, webhooks) reach
    /// loopback and private addresses (tests only).
    pub allow_private_webhooks: bool,
    /// `VIGIE_DEMO`: seed the demo agency at start-up (default: on in the embedded mode).
    pub demo: bool,
    /// `VIGIE_LOG_FORMAT`: `json` (default with PostgreSQL) or `pretty`.
    pub log_json: bool,
    /// Where spans go over OTLP/HTTP: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as is, or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces`; unset: no traces.
    pub otlp_traces_endpoint: Option<Url>,
    /// `OTEL_SERVICE_NAME`; default: the binary's name.
    pub otel_service_name: Option<String>,
    /// `VIGIE_TRUST_TRACEPARENT`: requests continue the caller's trace (a gateway's)
    /// instead of only linking to it.
    pub trust_traceparent: bool,
    /// `VIGIE_INTROSPECTION`: allow GraphQL introspection and serve GraphiQL; default
    /// on with the embedded SQLite, off with PostgreSQL (production).
    pub introspection: bool,
    /// `VIGIE_MIGRATE_ON_START` (default true): the api applies pending migrations when
    /// it starts (one replica at a time). Off, it refuses a schema older than it needs,
    /// and migrations are `vigie-migrate up`'s (an init job in a rolling deploy).
    pub migrate_on_start: bool,
    /// `VIGIE_METRICS_BIND`: serve `/metrics` on this address only (not on `VIGIE_BIND`),
    /// so that it can stay off the public listener. Unset: on `VIGIE_BIND`.
    pub metrics_bind: Option<SocketAddr>,
    /// `VIGIE_ACCESS_TOKEN_TTL_SECS`, default 900.
    pub access_token_ttl: Duration,
    /// `VIGIE_REFRESH_TOKEN_TTL_DAYS`, default 30.
    pub refresh_token_ttl: Duration,
    /// `VIGIE_QUEUE_PREFIX`: the Redis key space of the queue (hash tag), default `vigie`.
    pub queue_prefix: String,
    /// `VIGIE_WORKER_CONCURRENCY`: jobs run at once per process, default 8.
    pub worker_concurrency: usize,
    /// `VIGIE_DB_MAX_CONNECTIONS`: the most PostgreSQL connections one process opens;
    /// unset, [`Config::api_pool_size`] and [`Config::worker_pool_size`] choose.
    pub db_max_connections: Option<u32>,
    /// `VIGIE_JOB_VISIBILITY_SECS`: after this long a job held by a silent worker goes
    /// to another one; also the longest a job may run. Default 120.
    pub job_visibility: Duration,
    /// `VIGIE_WORKER_BIND`: the worker's health and metrics address, default
    /// `127.0.0.1:8081`.
    pub worker_bind: SocketAddr,
    /// `VIGIE_WEBHOOK_RETRIES`: waits before each retry of a failed webhook delivery,
    /// default `5s,5m,30m,2h,5h,10h,10h` (Standard Webhooks' schedule).
    pub webhook_retries: Vec<Duration>,
    /// `VIGIE_WEBHOOK_TIMEOUT_SECS`: how long a receiver has to answer, default 15.
    pub webhook_timeout: Duration,
    /// `VIGIE_WEBHOOK_DISABLE_AFTER_HOURS`: an endpoint failing this long is disabled
    /// (and its agency's admins emailed), default 120 (five days).
    pub webhook_disable_after: Duration,
    /// `VIGIE_RATE_LIMIT_GRAPHQL`, `VIGIE_RATE_LIMIT_INGEST`, `VIGIE_RATE_LIMIT_ANONYMOUS`:
    /// per-tenant request quotas such as `1200/min` (`off` disables one).
    pub rate_limits: crate::platform::ratelimit::Limits,
    /// `VIGIE_CALLER_CACHE_SECS`: how long an api process keeps a verified caller
    /// (membership, role, brands) before reading it again, default 10; `0` reads it on
    /// every request. Changes to access invalidate it at once (see `auth::callers`).
    pub caller_cache: Duration,
    /// `VIGIE_RETENTION_DAYS`, default 30: how long dispatched events (with their
    /// webhook deliveries), sent emails and expired refresh tokens are kept (see
    /// `retention`).
    pub retention: Duration,
    /// `VIGIE_BEHIND_PROXY`: take the client address of anonymous requests from the last
    /// `X-Forwarded-For` entry (the one the proxy added) instead of the connection.
    pub behind_proxy: bool,
    /// `VIGIE_MAX_BODY_BYTES`, default 1 MiB: the largest GraphQL request body or
    /// WebSocket message read; larger ones are refused while being read.
    pub max_body_bytes: usize,
    /// `VIGIE_PASSWORD_CONCURRENCY`: password hashes computed at once per process
    /// (each takes 19 MiB and tens of milliseconds of CPU); a few more per slot wait,
    /// beyond that they get `RATE_LIMITED`. Default: twice the cores, at least 4.
    pub password_concurrency: usize,
    /// `VIGIE_INVITATIONS_PER_DAY`, default 50: invitations an agency may send over any
    /// 24 hours; past it, `inviteMember` answers `RATE_LIMITED`.
    pub invitations_per_day: u32,
    /// `VIGIE_SOURCES_PER_BRAND` (default 50) and `VIGIE_SOURCES_PER_AGENCY` (default
    /// 500): the most polled sources (enabled or not) a brand and an agency may have, so
    /// that one tenant cannot fill the workers' time.
    pub sources_per_brand: u64,
    pub sources_per_agency: u64,
    /// `VIGIE_MIN_POLL_INTERVAL_SECS`, default 60 (60 to 86,400): the shortest interval
    /// between two polls of a source; sources set lower poll at this pace.
    pub min_poll_interval_secs: i32,
    /// `VIGIE_YOUTUBE_CLIENT_ID` and `VIGIE_YOUTUBE_CLIENT_SECRET`: the agency-facing
    /// OAuth application on Google (YouTube Data API v3); unset, YouTube cannot be
    /// connected. `VIGIE_YOUTUBE_DAILY_UNITS` (default 10,000) is the project's quota a
    /// day, which every connection shares; `VIGIE_YOUTUBE_CONNECTION_UNITS` (default
    /// 2,500) what one connection may spend of it.
    pub youtube: Option<OAuthApp>,
    /// `VIGIE_APP_URL`: the agency front-end, where the OAuth callback sends a manager
    /// back with the ticket that completes the connection (`?oauthTicket=…`); unset,
    /// the callback's page shows the ticket.
    pub app_url: Option<Url>,
    /// `VIGIE_REDDIT_CLIENT_ID` and `VIGIE_REDDIT_CLIENT_SECRET`: the OAuth ("web app")
    /// application on Reddit; unset, Reddit cannot be connected.
    pub reddit: Option<OAuthApp>,
    /// `VIGIE_X_CLIENT_ID` and `VIGIE_X_CLIENT_SECRET`: the OAuth 2.0 client of an X
    /// app (confidential client, "Web App"); unset, X cannot be connected.
    pub x: Option<OAuthApp>,
    /// `VIGIE_TRUSTPILOT_API_URL`, default `https://api.trustpilot.com/v1`: where
    /// Trustpilot API-key connections call.
    pub trustpilot_api_url: Url,
    /// `VIGIE_GOOGLE_BUSINESS_CLIENT_ID` and `VIGIE_GOOGLE_BUSINESS_CLIENT_SECRET`: the
    /// OAuth client (Google) Business Profile accounts connect with, for their reviews;
    /// its API is `https://mybusiness.googleapis.com` (reviews, v4).
    pub google_business: Option<OAuthApp>,
    /// `VIGIE_GOOGLE_BUSINESS_ACCOUNTS_URL`, default
    /// `https://mybusinessaccountmanagement.googleapis.com/v1`: where the accounts a
    /// Business Profile connection opens are listed.
    pub google_accounts_url: Url,
    /// `VIGIE_GOOGLE_BUSINESS_INFO_URL`, default
    /// `https://mybusinessbusinessinformation.googleapis.com/v1`: where a Business
    /// Profile connection's locations are listed.
    pub google_info_url: Url,
    /// `VIGIE_META_CLIENT_ID` and `VIGIE_META_CLIENT_SECRET`: the Meta app (its App ID
    /// and App Secret) that Facebook Pages and Instagram professional accounts connect
    /// through with Facebook Login; the secret also checks webhook deliveries.
    pub meta: Option<OAuthApp>,
    /// `VIGIE_META_VERIFY_TOKEN`: the token typed in the app's webhook settings, which
    /// Meta sends back when it verifies `/webhooks/meta`; unset, webhooks are refused.
    pub meta_verify_token: Option<String>,
    /// `VIGIE_LINKEDIN_CLIENT_ID` and `VIGIE_LINKEDIN_CLIENT_SECRET`: the LinkedIn app
    /// (with the Community Management API) that organisation pages connect through.
    pub linkedin: Option<OAuthApp>,
    /// `VIGIE_LINKEDIN_VERSION`, default `202510`: the version of LinkedIn's REST API
    /// asked for (`LinkedIn-Version`, `YYYYMM`; LinkedIn serves each for a year).
    pub linkedin_version: String,
}

/// An OAuth 2 application registered on a network. The endpoints default to the
/// network's own; `VIGIE_<NETWORK>_AUTH_URL`, `_TOKEN_URL`, `_API_URL` and
/// `_REVOKE_URL` move them
/// (a regional gateway, or the tests' local servers).
#[derive(Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: String,
    pub auth_url: Url,
    pub token_url: Url,
    pub api_url: Url,
    /// Where tokens are revoked (RFC 7009) when a connection is deleted.
    pub revoke_url: Url,
    /// Units of the network's quota the application may spend per quota day, all
    /// connections together (YouTube).
    pub daily_units: i32,
    /// Units one connection may spend of them per quota day.
    pub connection_units: i32,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("auth_url", &self.auth_url.as_str())
            .field("token_url", &self.token_url.as_str())
            .field("api_url", &self.api_url.as_str())
            .field("revoke_url", &self.revoke_url.as_str())
            .field("daily_units", &self.daily_units)
            .field("connection_units", &self.connection_units)
            .finish()
    }
}

/// Reads the OAuth application of a network (`prefix` such as `VIGIE_YOUTUBE`): none
/// unless both its id and secret are set; half of it, or a bad URL, is an error.
fn oauth_app(
    get: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<String>,
    prefix: &str,
    defaults: [&str; 4],
    (daily_units, connection_units): (i32, i32),
) -> Option<OAuthApp> {
    let id = get(&format!("{prefix}_CLIENT_ID"));
    let secret = get(&format!("{prefix}_CLIENT_SECRET"));
    let (client_id, client_secret) = match (id, secret) {
        (Some(id), Some(secret)) => (id, secret),
        (None, None) => return None,
        _ => {
            errors.push(format!("{prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET go together"));
            return None;
        }
    };
    let mut url = |suffix: &str, default: &str| {
        let key = format!("{prefix}_{suffix}");
        let raw = get(&key).unwrap_or_else(|| default.to_owned());
        Url::parse(&raw).ok().filter(|u| matches!(u.scheme(), "http" | "https")).or_else(|| {
            errors.push(format!("{key} must be an http(s) URL (got `{}`)", redact_url(&raw)));
            None
        })
    };
    let auth_url = url("AUTH_URL", defaults[0]);
    let token_url = url("TOKEN_URL", defaults[1]);
    let api_url = url("API_URL", defaults[2]);
    let revoke_url = url("REVOKE_URL", defaults[3]);
    Some(OAuthApp {
        client_id,
        client_secret,
        auth_url: auth_url?,
        token_url: token_url?,
        api_url: api_url?,
        revoke_url: revoke_url?,
        daily_units,
        connection_units,
    })
}

/// Parses `5s`, `250ms`, `5m`, `2h`.
fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = raw.split_at(split);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

impl std::fmt::Debug for Config {
    // Hand-written so that secrets never reach a log line; the destructuring makes a new
    // field a compile error here until it is shown (or masked).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Config {
            database_url,
            redis_url,
            redis_cluster,
            redis_ca,
            bind,
            public_url,
            data_dir,
            jwt_secret,
            vault,
            smtp_url,
            mail_from,
            allow_private_webhooks,
            demo,
            log_json,
            otlp_traces_endpoint,
            otel_service_name,
            trust_traceparent,
            introspection,
            migrate_on_start,
            metrics_bind,
            access_token_ttl,
            refresh_token_ttl,
            queue_prefix,
            worker_concurrency,
            db_max_connections,
            job_visibility,
            worker_bind,
            webhook_retries,
            webhook_timeout,
            webhook_disable_after,
            rate_limits,
            caller_cache,
            retention,
            behind_proxy,
            max_body_bytes,
            password_concurrency,
            invitations_per_day,
            sources_per_brand,
            sources_per_agency,
            min_poll_interval_secs,
            youtube,
            app_url,
            reddit,
            x,
            trustpilot_api_url,
            google_business,
            google_accounts_url,
            google_info_url,
            meta,
            meta_verify_token,
            linkedin,
            linkedin_version,
        } = self;
        f.debug_struct("Config")
            .field("database", &redact_url(database_url))
            .field("redis", &redis_url.as_deref().map(|urls| split_urls(urls).map(redact_url).collect::<Vec<_>>()))
            .field("redis_cluster", redis_cluster)
            .field("redis_ca", &redis_ca.as_ref().map(|ca| format!("{} bytes", ca.len())))
            .field("bind", bind)
            .field("public_url", &redact_url(public_url.as_str()))
            .field("data_dir", data_dir)
            .field("jwt_secret", &format!("*** ({} bytes)", jwt_secret.len()))
            .field("vault", vault)
            .field("smtp", &smtp_url.as_deref().map(redact_url))
            .field("mail_from", mail_from)
            .field("allow_private_webhooks", allow_private_webhooks)
            .field("demo", demo)
            .field("log_json", log_json)
            .field("otlp_traces_endpoint", &otlp_traces_endpoint.as_ref().map(|url| redact_url(url.as_str())))
            .field("otel_service_name", otel_service_name)
            .field("trust_traceparent", trust_traceparent)
            .field("introspection", introspection)
            .field("migrate_on_start", migrate_on_start)
            .field("metrics_bind", metrics_bind)
            .field("access_token_ttl", access_token_ttl)
            .field("refresh_token_ttl", refresh_token_ttl)
            .field("queue_prefix", queue_prefix)
            .field("worker_concurrency", worker_concurrency)
            .field("db_max_connections", db_max_connections)
            .field("job_visibility", job_visibility)
            .field("worker_bind", worker_bind)
            .field("webhook_retries", webhook_retries)
            .field("webhook_timeout", webhook_timeout)
            .field("webhook_disable_after", webhook_disable_after)
            .field("rate_limits", rate_limits)
            .field("caller_cache", caller_cache)
            .field("retention", retention)
            .field("behind_proxy", behind_proxy)
            .field("max_body_bytes", max_body_bytes)
            .field("password_concurrency", password_concurrency)
            .field("invitations_per_day", invitations_per_day)
            .field("sources_per_brand", sources_per_brand)
            .field("sources_per_agency", sources_per_agency)
            .field("min_poll_interval_secs", min_poll_interval_secs)
            .field("youtube", youtube)
            .field("app_url", &app_url.as_ref().map(|u| redact_url(u.as_str())))
            .field("reddit", reddit)
            .field("x", x)
            .field("trustpilot_api_url", &trustpilot_api_url.as_str())
            .field("google_business", google_business)
            .field("google_accounts_url", &google_accounts_url.as_str())
            .field("google_info_url", &google_info_url.as_str())
            .field("meta", meta)
            .field("meta_verify_token", &meta_verify_token.as_ref().map(|_| "***"))
            .field("linkedin", linkedin)
            .field("linkedin_version", linkedin_version)
            .finish()
    }
}

/// The URLs of a comma-separated list, trimmed.
fn split_urls(urls: &str) -> impl Iterator<Item = &str> {
    urls.split(',').map(str::trim).filter(|url| !url.is_empty())
}

/// A URL fit for logs: its password (or, without one, its user name, which some
/// services take as a token) and secret-looking query parameters masked; what does not
/// parse is not shown at all, since a password with a stray `/` or `#` is what breaks it.
fn redact_url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        return format!("<not a URL, {} characters>", raw.chars().count());
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    } else if !url.username().is_empty() {
        let _ = url.set_username("***");
    }
    let secret = |key: &str| ["pass", "secret", "token", "key"].iter().any(|word| key.to_lowercase().contains(word));
    if url.query_pairs().any(|(key, _)| secret(&key)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if secret(&key) { "***".to_owned() } else { value.into_owned() };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// All the problems found in the environment, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Where Redis is (`REDIS_URL`, `VIGIE_REDIS_CLUSTER`, `VIGIE_REDIS_CA`), if it is
    /// configured.
    pub fn redis(&self) -> crate::Result<Option<crate::platform::redis_client::Redis>> {
        let Some(urls) = &self.redis_url else { return Ok(None) };
        let urls: Vec<String> = split_urls(urls).map(str::to_owned).collect();
        crate::platform::redis_client::Redis::open(&urls, self.redis_cluster, self.redis_ca.as_deref())
            .map(Some)
            .map_err(|e| crate::Error::internal_from("REDIS_URL", e))
    }

    /// Reads the process environment (and, in the embedded mode, the generated JWT key
    /// kept in the data directory).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads configuration through `lookup`, so tests can pass a map instead of the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut errors = Vec::new();

        let data_dir = PathBuf::from(get("VIGIE_DATA_DIR").unwrap_or_else(|| "./data".into()));
        let explicit_db = get("DATABASE_URL");
        let database_url = match &explicit_db {
            Some(url)
                if url.starts_with("postgres://") || url.starts_with("postgresql://") || url.starts_with("sqlite:") =>
            {
                url.clone()
            }
            Some(url) => {
                errors.push(format!(
                    "DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got `{}`)",
                    redact_url(url)
                ));
                String::new()
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("vigie.db").display()),
        };
        let uses_postgres = database_url.starts_with("postgres");

        let redis_url = get("REDIS_URL");
        let redis_urls: Vec<&str> = redis_url.as_deref().map(|urls| split_urls(urls).collect()).unwrap_or_default();
        if redis_urls.iter().any(|url| !(url.starts_with("redis://") || url.starts_with("rediss://"))) {
            errors.push("REDIS_URL must start with redis:// or rediss://".into());
        }
        // The cluster client refuses seeds that differ in these, but only once it connects.
        let identity = |url: &str| {
            Url::parse(url)
                .ok()
                .map(|u| (u.username().to_owned(), u.password().map(str::to_owned), u.path().to_owned()))
        };
        if redis_urls.windows(2).any(|pair| identity(pair[0]) != identity(pair[1])) {
            errors.push("REDIS_URL: the seed nodes must share one user and password (and database)".into());
        }
        if redis_urls.iter().any(|url| url.starts_with("rediss://"))
            && redis_urls.iter().any(|url| url.starts_with("redis://"))
        {
            errors.push("REDIS_URL mixes redis:// and rediss:// nodes".into());
        }
        let redis_ca = get("VIGIE_REDIS_CA").and_then(|path| match std::fs::read(&path) {
            Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Some(Arc::from(pem)),
            Ok(_) => {
                errors.push(format!("VIGIE_REDIS_CA: {path} holds no PEM certificate"));
                None
            }
            Err(e) => {
                errors.push(format!("VIGIE_REDIS_CA: cannot read {path}: {e}"));
                None
            }
        });
        if redis_ca.is_some() && !redis_urls.first().is_some_and(|u| u.starts_with("rediss://")) {
            errors.push("VIGIE_REDIS_CA is for a rediss:// REDIS_URL".into());
        }

        let bind = get("VIGIE_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        let bind = bind.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!("VIGIE_BIND must be an address:port such as 127.0.0.1:8080 (got `{bind}`)"));
            SocketAddr::from(([127, 0, 0, 1], 8080))
        });

        let public_url = get("VIGIE_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        let public_url =
            Url::parse(&public_url).ok().filter(|u| matches!(u.scheme(), "http" | "https")).unwrap_or_else(|| {
                errors.push(format!("VIGIE_PUBLIC_URL must be an http(s) URL (got `{public_url}`)"));
                Url::parse("http://127.0.0.1:8080").expect("static URL")
            });

        let jwt_secret = match get("VIGIE_JWT_SECRET") {
            Some(secret) if secret.len() >= 32 => secret.into_bytes(),
            Some(_) => {
                errors.push("VIGIE_JWT_SECRET must be at least 32 characters".into());
                Vec::new()
            }
            None if uses_postgres => {
                errors.push("VIGIE_JWT_SECRET is required when DATABASE_URL points to PostgreSQL (production)".into());
                Vec::new()
            }
            // A `DATABASE_URL` already reported as wrong: no key is written for it.
            None if !database_url.starts_with("sqlite:") => Vec::new(),
            None => match embedded_jwt_secret(&data_dir) {
                Ok(secret) => secret,
                Err(e) => {
                    errors.push(format!("cannot keep a JWT key in VIGIE_DATA_DIR {}: {e}", data_dir.display()));
                    Vec::new()
                }
            },
        };

        let vault = {
            use crate::platform::vault::{Vault, parse_key};
            let current = match get("VIGIE_SECRETS_KEY") {
                Some(text) => parse_key(&text).or_else(|| {
                    errors.push("VIGIE_SECRETS_KEY must be 32 bytes in base64 (`openssl rand -base64 32`)".into());
                    None
                }),
                // Only the embedded default keeps a key of its own (not a broken setup).
                None if !database_url.starts_with("sqlite:") => None,
                None => match embedded_file(&data_dir, "secrets-key", crate::platform::vault::generate_key) {
                    Ok(text) => parse_key(&text).or_else(|| {
                        errors.push(format!("{} is not a secrets key", data_dir.join("secrets-key").display()));
                        None
                    }),
                    Err(e) => {
                        errors.push(format!("cannot keep a secrets key in VIGIE_DATA_DIR {}: {e}", data_dir.display()));
                        None
                    }
                },
            };
            let mut previous = Vec::new();
            for text in get("VIGIE_SECRETS_KEY_PREVIOUS").iter().flat_map(|list| list.split(',')) {
                match parse_key(text) {
                    Some(key) => previous.push(key),
                    None => errors.push("VIGIE_SECRETS_KEY_PREVIOUS must list keys of 32 bytes in base64".into()),
                }
            }
            if current.is_none() && !previous.is_empty() {
                errors.push("VIGIE_SECRETS_KEY_PREVIOUS needs VIGIE_SECRETS_KEY, the key that seals".into());
            }
            Vault::new(current, &previous)
        };

        let smtp_url = get("SMTP_URL");
        if let Some(url) = &smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            errors.push("SMTP_URL must start with smtp:// or smtps://".into());
        }
        let mail_from = get("VIGIE_MAIL_FROM").unwrap_or_else(|| "Vigie <no-reply@vigie.local>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            errors.push(format!("VIGIE_MAIL_FROM is not an email address (got `{mail_from}`)"));
        }

        let mut flag = |key: &str, default: bool| match get(key).as_deref() {
            None => default,
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            Some(other) => {
                errors.push(format!("{key} must be true or false (got `{other}`)"));
                default
            }
        };
        let allow_private_webhooks = flag("VIGIE_ALLOW_PRIVATE_WEBHOOKS", false);
        let behind_proxy = flag("VIGIE_BEHIND_PROXY", false);
        let demo = flag("VIGIE_DEMO", explicit_db.is_none());
        let introspection = flag("VIGIE_INTROSPECTION", !uses_postgres);
        let migrate_on_start = flag("VIGIE_MIGRATE_ON_START", true);
        let redis_cluster = flag("VIGIE_REDIS_CLUSTER", false);
        let trust_traceparent = flag("VIGIE_TRUST_TRACEPARENT", false);
        if redis_cluster && redis_urls.is_empty() {
            errors.push("VIGIE_REDIS_CLUSTER needs REDIS_URL (the cluster's seed nodes)".into());
        }
        if redis_urls.len() > 1 && !redis_cluster {
            errors.push("REDIS_URL lists several servers: set VIGIE_REDIS_CLUSTER=true for a Redis Cluster".into());
        }
        let log_json = match get("VIGIE_LOG_FORMAT").as_deref() {
            None => uses_postgres,
            Some("json") => true,
            Some("pretty") => false,
            Some(other) => {
                errors.push(format!("VIGIE_LOG_FORMAT must be json or pretty (got `{other}`)"));
                false
            }
        };
        let mut otlp = |key: &str| {
            let raw = get(key)?;
            let url = Url::parse(&raw).ok().filter(|url| matches!(url.scheme(), "http" | "https"));
            if url.is_none() {
                errors.push(format!("{key} must be an http:// or https:// URL"));
            }
            url
        };
        let traces = otlp("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        let base = otlp("OTEL_EXPORTER_OTLP_ENDPOINT");
        // The signal's path joins the base endpoint, as the OTLP exporter specification says.
        let otlp_traces_endpoint = traces.or_else(|| {
            base.and_then(|url| Url::parse(&format!("{}/v1/traces", url.as_str().trim_end_matches('/'))).ok())
        });
        let otel_service_name = get("OTEL_SERVICE_NAME");

        let mut seconds = |key: &str, default: u64, unit: u64| match get(key) {
            None => Duration::from_secs(default * unit),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n > 0 => Duration::from_secs(n * unit),
                _ => {
                    errors.push(format!("{key} must be a positive integer (got `{v}`)"));
                    Duration::from_secs(default * unit)
                }
            },
        };
        let access_token_ttl = seconds("VIGIE_ACCESS_TOKEN_TTL_SECS", 900, 1);
        let refresh_token_ttl = seconds("VIGIE_REFRESH_TOKEN_TTL_DAYS", 30, 86_400);
        let job_visibility = seconds("VIGIE_JOB_VISIBILITY_SECS", 120, 1);
        let worker_concurrency = seconds("VIGIE_WORKER_CONCURRENCY", 8, 1).as_secs() as usize;
        let webhook_timeout = seconds("VIGIE_WEBHOOK_TIMEOUT_SECS", 15, 1);
        let webhook_disable_after = seconds("VIGIE_WEBHOOK_DISABLE_AFTER_HOURS", 120, 3600);
        let retention = seconds("VIGIE_RETENTION_DAYS", 30, 86_400);
        let max_body_bytes = seconds("VIGIE_MAX_BODY_BYTES", 1 << 20, 1).as_secs() as usize;
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let password_concurrency =
            seconds("VIGIE_PASSWORD_CONCURRENCY", (2 * cores).max(4) as u64, 1).as_secs() as usize;
        let sources_per_brand = seconds("VIGIE_SOURCES_PER_BRAND", 50, 1).as_secs();
        let sources_per_agency = seconds("VIGIE_SOURCES_PER_AGENCY", 500, 1).as_secs();
        let min_poll_interval_secs = seconds("VIGIE_MIN_POLL_INTERVAL_SECS", 60, 1).as_secs();
        let invitations_per_day = seconds("VIGIE_INVITATIONS_PER_DAY", 50, 1).as_secs().min(100_000) as u32;
        let db_max_connections = get("VIGIE_DB_MAX_CONNECTIONS").map(|v| match v.parse::<u32>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                errors.push(format!("VIGIE_DB_MAX_CONNECTIONS must be 1 to 1000 (got `{v}`)"));
                1
            }
        });
        let caller_cache = match get("VIGIE_CALLER_CACHE_SECS") {
            None => Duration::from_secs(10),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if n <= 300 => Duration::from_secs(n),
                _ => {
                    errors.push(format!("VIGIE_CALLER_CACHE_SECS must be 0 to 300 (got `{v}`)"));
                    Duration::ZERO
                }
            },
        };

        let queue_prefix = get("VIGIE_QUEUE_PREFIX").unwrap_or_else(|| "vigie".into());
        if queue_prefix.contains(['{', '}', ' ']) {
            errors.push("VIGIE_QUEUE_PREFIX must not contain braces or spaces".into());
        }
        let worker_bind = get("VIGIE_WORKER_BIND").unwrap_or_else(|| "127.0.0.1:8081".into());
        let worker_bind = worker_bind.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!("VIGIE_WORKER_BIND must be an address:port (got `{worker_bind}`)"));
            SocketAddr::from(([127, 0, 0, 1], 8081))
        });

        let metrics_bind = get("VIGIE_METRICS_BIND").and_then(|raw| match raw.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                errors.push(format!("VIGIE_METRICS_BIND must be an address:port (got `{raw}`)"));
                None
            }
        });

        let retries = get("VIGIE_WEBHOOK_RETRIES").unwrap_or_else(|| "5s,5m,30m,2h,5h,10h,10h".into());
        let webhook_retries: Vec<Duration> = retries.split(',').filter_map(parse_duration).collect();
        if webhook_retries.len() != retries.split(',').count() || webhook_retries.len() > 20 {
            errors.push(format!(
                "VIGIE_WEBHOOK_RETRIES must be up to 20 durations such as 5s,5m,2h separated by commas (got `{retries}`)"
            ));
        }
        let mut quota = |key: &str, default: &str| {
            let raw = get(key).unwrap_or_else(|| default.into());
            crate::platform::ratelimit::Quota::parse(&raw).unwrap_or_else(|| {
                errors.push(format!("{key} must be a rate such as 600/min, 20/s or 5000/h, or off (got `{raw}`)"));
                None
            })
        };
        let rate_limits = crate::platform::ratelimit::Limits {
            graphql: quota("VIGIE_RATE_LIMIT_GRAPHQL", "1200/min"),
            ingest: quota("VIGIE_RATE_LIMIT_INGEST", "300/min"),
            anonymous: quota("VIGIE_RATE_LIMIT_ANONYMOUS", "120/min"),
        };
        if !(60..=86_400).contains(&min_poll_interval_secs) {
            errors.push(format!("VIGIE_MIN_POLL_INTERVAL_SECS must be 60 to 86400 (got {min_poll_interval_secs})"));
        }
        let min_poll_interval_secs = min_poll_interval_secs.clamp(60, 86_400) as i32;
        // A search page costs 100 units and a reply 50: a smaller budget could pay for
        // neither.
        let mut units = |key: &str, default: i32| match get(key).map(|raw| raw.trim().parse::<i32>()) {
            None => default,
            Some(Ok(units)) if units >= 200 => units,
            Some(_) => {
                errors.push(format!("{key} must be a number of quota units, at least 200"));
                default
            }
        };
        let youtube_units = units("VIGIE_YOUTUBE_DAILY_UNITS", 10_000);
        let connection_units = units("VIGIE_YOUTUBE_CONNECTION_UNITS", youtube_units.min(2_500));
        if connection_units > youtube_units {
            errors.push("VIGIE_YOUTUBE_CONNECTION_UNITS cannot exceed VIGIE_YOUTUBE_DAILY_UNITS".into());
        }
        let youtube = oauth_app(
            &get,
            &mut errors,
            "VIGIE_YOUTUBE",
            [
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://www.googleapis.com/youtube/v3",
                "https://oauth2.googleapis.com/revoke",
            ],
            (youtube_units, connection_units),
        );
        let app_url = get("VIGIE_APP_URL").and_then(|raw| {
            Url::parse(&raw).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some()).or_else(
                || {
                    errors.push(format!("VIGIE_APP_URL must be an http(s) URL (got `{}`)", redact_url(&raw)));
                    None
                },
            )
        });
        let reddit = oauth_app(
            &get,
            &mut errors,
            "VIGIE_REDDIT",
            [
                "https://www.reddit.com/api/v1/authorize",
                "https://www.reddit.com/api/v1/access_token",
                "https://oauth.reddit.com",
                "https://www.reddit.com/api/v1/revoke_token",
            ],
            (0, 0),
        );
        let x = oauth_app(
            &get,
            &mut errors,
            "VIGIE_X",
            [
                "https://x.com/i/oauth2/authorize",
                "https://api.x.com/2/oauth2/token",
                "https://api.x.com/2",
                "https://api.x.com/2/oauth2/revoke",
            ],
            (0, 0),
        );
        let mut api_url = |key: &str, default: &str| {
            let raw = get(key).unwrap_or_else(|| default.into());
            Url::parse(&raw)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .unwrap_or_else(|| {
                    errors.push(format!("{key} must be an http(s) URL (got `{}`)", redact_url(&raw)));
                    Url::parse(default).expect("a valid default")
                })
        };
        let trustpilot_api_url = api_url("VIGIE_TRUSTPILOT_API_URL", "https://api.trustpilot.com/v1");
        let google_accounts_url =
            api_url("VIGIE_GOOGLE_BUSINESS_ACCOUNTS_URL", "https://mybusinessaccountmanagement.googleapis.com/v1");
        let google_info_url =
            api_url("VIGIE_GOOGLE_BUSINESS_INFO_URL", "https://mybusinessbusinessinformation.googleapis.com/v1");
        let google_business = oauth_app(
            &get,
            &mut errors,
            "VIGIE_GOOGLE_BUSINESS",
            [
                "https://accounts.google.com/o/oauth2/v2/auth",
                "https://oauth2.googleapis.com/token",
                "https://mybusiness.googleapis.com",
                "https://oauth2.googleapis.com/revoke",
            ],
            (0, 0),
        );
        if let (Some(youtube), Some(business)) = (&youtube, &google_business)
            && youtube.client_id == business.client_id
        {
            // Google revokes a client's whole grant on an account at once: deleting one
            // connection would end the other.
            errors.push(
                "VIGIE_GOOGLE_BUSINESS_CLIENT_ID must be another OAuth client than VIGIE_YOUTUBE_CLIENT_ID".into(),
            );
        }
        let meta = oauth_app(
            &get,
            &mut errors,
            "VIGIE_META",
            [
                "https://www.facebook.com/v21.0/dialog/oauth",
                "https://graph.facebook.com/v21.0/oauth/access_token",
                "https://graph.facebook.com/v21.0",
                "https://graph.facebook.com/v21.0/me/permissions",
            ],
            (0, 0),
        );
        let meta_verify_token = get("VIGIE_META_VERIFY_TOKEN");
        let linkedin = oauth_app(
            &get,
            &mut errors,
            "VIGIE_LINKEDIN",
            [
                "https://www.linkedin.com/oauth/v2/authorization",
                "https://www.linkedin.com/oauth/v2/accessToken",
                "https://api.linkedin.com/rest",
                "https://www.linkedin.com/oauth/v2/revoke",
            ],
            (0, 0),
        );
        let linkedin_version = get("VIGIE_LINKEDIN_VERSION").unwrap_or_else(|| "202510".into());
        if linkedin_version.len() != 6 || !linkedin_version.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(format!("VIGIE_LINKEDIN_VERSION is a month, YYYYMM (got `{linkedin_version}`)"));
        }
        if meta_verify_token.as_ref().is_some_and(|t| t.len() < 16) {
            errors.push("VIGIE_META_VERIFY_TOKEN must have at least 16 characters".into());
        }
        if !errors.is_empty() {
            return Err(ConfigError(errors));
        }
        Ok(Config {
            database_url,
            redis_url,
            redis_cluster,
            redis_ca,
            bind,
            public_url,
            data_dir,
            jwt_secret,
            vault,
            smtp_url,
            mail_from,
            allow_private_webhooks,
            demo,
            log_json,
            otlp_traces_endpoint,
            otel_service_name,
            trust_traceparent,
            introspection,
            migrate_on_start,
            metrics_bind,
            access_token_ttl,
            refresh_token_ttl,
            queue_prefix,
            worker_concurrency,
            db_max_connections,
            job_visibility,
            worker_bind,
            webhook_retries,
            webhook_timeout,
            webhook_disable_after,
            rate_limits,
            caller_cache,
            retention,
            behind_proxy,
            max_body_bytes,
            password_concurrency,
            invitations_per_day,
            sources_per_brand,
            sources_per_agency,
            min_poll_interval_secs,
            youtube,
            app_url,
            reddit,
            x,
            trustpilot_api_url,
            google_business,
            google_accounts_url,
            google_info_url,
            meta,
            meta_verify_token,
            linkedin,
            linkedin_version,
        })
    }

    /// The PostgreSQL pool of an api process: `VIGIE_DB_MAX_CONNECTIONS`, default 20
    /// (requests, plus the jobs in the embedded mode).
    pub fn api_pool_size(&self) -> u32 {
        self.db_max_connections.unwrap_or(20)
    }

    /// The PostgreSQL pool of a worker process: `VIGIE_DB_MAX_CONNECTIONS`, default the
    /// worker's concurrency plus 4 (the health checks, and a job's odd statement
    /// outside its transaction). Every connection is a PostgreSQL backend and keeps a
    /// cache of prepared statements, so a worker opens no more than its jobs can use.
    pub fn worker_pool_size(&self) -> u32 {
        self.db_max_connections
            .unwrap_or_else(|| u32::try_from(self.worker_concurrency).unwrap_or(u32::MAX).saturating_add(4))
    }

    /// Whether the workers run inside the api process (no Redis configured).
    pub fn embedded_workers(&self) -> bool {
        self.redis_url.is_none()
    }

    /// Builds an absolute link from a path on the public URL.
    pub fn public_link(&self, path: &str) -> String {
        let base = self.public_url.as_str().trim_end_matches('/');
        format!("{base}/{}", path.trim_start_matches('/'))
    }
}

/// The embedded mode needs no setup: a random key is generated once and kept in the
/// data directory so that tokens survive a restart.
fn embedded_jwt_secret(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let generate = || {
        let mut raw = [0u8; 48];
        getrandom::fill(&mut raw).expect("the operating system's random generator failed");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    };
    Ok(embedded_file(data_dir, "jwt-secret", generate)?.into_bytes())
}

/// The key kept in the data directory's file `name`, written by `generate` on first use
/// (readable by its owner only). Created exclusively, so that two processes starting
/// together keep the same key; an existing file is never replaced, since what the key
/// sealed or signed would be lost: a damaged one is an error for the operator.
fn embedded_file(data_dir: &Path, name: &str, generate: impl Fn() -> String) -> std::io::Result<String> {
    let path = data_dir.join(name);
    let read = || -> std::io::Result<String> {
        let existing = std::fs::read_to_string(&path)?;
        if existing.trim().len() < 32 {
            return Err(std::io::Error::other(format!(
                "{} is damaged: restore it, or delete it to start over",
                path.display()
            )));
        }
        Ok(existing.trim().to_owned())
    };
    if path.exists() {
        return read();
    }
    std::fs::create_dir_all(data_dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let secret = generate();
            std::io::Write::write_all(&mut file, secret.as_bytes())?;
            file.sync_all()?;
            Ok(secret)
        }
        // Another process created it first: its key is the one.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_secrets() {
        assert_eq!(redact_url("postgres://vigie:hunter2@db/vigie"), "postgres://vigie:***@db/vigie");
        assert_eq!(redact_url("redis://TOKEN123@cache:6379"), "redis://***@cache:6379");
        assert_eq!(
            redact_url("postgres://db/vigie?sslmode=require&password=hunter2"),
            "postgres://db/vigie?sslmode=require&password=***"
        );
        assert_eq!(redact_url("postgres://vigie:pa/ss#word@db/vigie"), "<not a URL, 36 characters>");
        assert_eq!(redact_url("sqlite://./data/vigie.db?mode=rwc"), "sqlite://./data/vigie.db?mode=rwc");
    }
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn embedded_default_uses_sqlite_in_data_dir_and_generates_a_stable_key() {
        let dir = std::env::temp_dir().join(format!("vigie-config-{}", uuid::Uuid::now_v7()));
        let dir_str = dir.to_str().unwrap();
        let first = config(&[("VIGIE_DATA_DIR", dir_str)]).unwrap();
        assert!(first.database_url.starts_with("sqlite://"));
        assert!(first.database_url.contains("vigie.db"));
        assert!(first.embedded_workers());
        assert!(first.demo);
        let second = config(&[("VIGIE_DATA_DIR", dir_str)]).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret, "the generated key must be kept");
        assert!(first.vault.is_configured());
        assert_eq!(first.vault.current_key_id(), second.vault.current_key_id(), "and the secrets key too");
        // A damaged key file is the operator's to repair, never silently replaced.
        std::fs::write(dir.join("secrets-key"), "short").unwrap();
        let damaged = config(&[("VIGIE_DATA_DIR", dir_str)]).unwrap_err().to_string();
        assert!(damaged.contains("secrets-key is damaged"), "{damaged}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn production_requires_a_jwt_secret_and_reports_every_problem_at_once() {
        let err = config(&[
            ("DATABASE_URL", "postgres://u@localhost/db"),
            ("VIGIE_BIND", "not-an-address"),
            ("REDIS_URL", "http://nope"),
        ])
        .expect_err("must fail");
        let message = err.to_string();
        assert!(message.contains("VIGIE_JWT_SECRET is required"), "{message}");
        assert!(message.contains("VIGIE_BIND"), "{message}");
        assert!(message.contains("REDIS_URL"), "{message}");
    }

    #[test]
    fn a_cluster_takes_several_seed_urls_and_one_server_takes_one() {
        const PG: (&str, &str) = ("DATABASE_URL", "postgres://u@localhost/db");
        const SECRET: (&str, &str) = ("VIGIE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let seeds = "redis://a:7000, redis://b:7000,redis://c:7000";
        let cluster = config(&[PG, SECRET, ("REDIS_URL", seeds), ("VIGIE_REDIS_CLUSTER", "true")]).unwrap();
        assert!(cluster.redis().unwrap().unwrap().is_cluster());
        assert!(format!("{cluster:?}").contains(r#"["redis://a:7000", "redis://b:7000", "redis://c:7000"]"#));
        let one = config(&[PG, SECRET, ("REDIS_URL", "redis://a:6379")]).unwrap();
        assert!(!one.redis().unwrap().unwrap().is_cluster());

        let several = config(&[PG, SECRET, ("REDIS_URL", seeds)]).unwrap_err().to_string();
        assert!(several.contains("set VIGIE_REDIS_CLUSTER=true"), "{several}");
        let alone = config(&[PG, SECRET, ("VIGIE_REDIS_CLUSTER", "true")]).unwrap_err().to_string();
        assert!(alone.contains("VIGIE_REDIS_CLUSTER needs REDIS_URL"), "{alone}");
        let mixed =
            config(&[PG, SECRET, ("REDIS_URL", "redis://a:7000,rediss://b:7000"), ("VIGIE_REDIS_CLUSTER", "1")])
                .unwrap_err()
                .to_string();
        assert!(mixed.contains("mixes"), "{mixed}");
        let apart =
            config(&[PG, SECRET, ("REDIS_URL", "redis://:a@x:7000,redis://:b@y:7000"), ("VIGIE_REDIS_CLUSTER", "1")])
                .unwrap_err()
                .to_string();
        assert!(apart.contains("share one user and password"), "{apart}");
        let bad = config(&[PG, SECRET, ("REDIS_URL", "redis://a:7000,http://b"), ("VIGIE_REDIS_CLUSTER", "1")])
            .unwrap_err()
            .to_string();
        assert!(bad.contains("must start with redis://"), "{bad}");
    }

    #[test]
    fn traces_go_to_the_otlp_endpoint_with_the_signal_path() {
        const PG: (&str, &str) = ("DATABASE_URL", "postgres://u@localhost/db");
        const SECRET: (&str, &str) = ("VIGIE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let endpoint = |vars: &[(&str, &str)]| {
            let vars = [&[PG, SECRET], vars].concat();
            config(&vars).unwrap().otlp_traces_endpoint.map(|url| url.to_string())
        };
        assert_eq!(endpoint(&[]), None, "no endpoint, no traces");
        let base = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        assert_eq!(endpoint(&[base]).as_deref(), Some("http://collector:4318/v1/traces"));
        let prefixed = ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://gateway.example/otlp/");
        assert_eq!(endpoint(&[prefixed]).as_deref(), Some("https://gateway.example/otlp/v1/traces"));
        let traces = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:4318/custom");
        assert_eq!(endpoint(&[base, traces]).as_deref(), Some("http://other:4318/custom"), "taken as is");
        let bad = config(&[PG, SECRET, ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")]).unwrap_err().to_string();
        assert!(bad.contains("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL"), "{bad}");
    }

    #[test]
    fn rejects_unknown_database_scheme_short_secret_and_bad_flags() {
        let message = config(&[("DATABASE_URL", "mysql://x"), ("VIGIE_JWT_SECRET", "short"), ("VIGIE_DEMO", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(message.contains("DATABASE_URL"));
        assert!(message.contains("at least 32"));
        assert!(message.contains("VIGIE_DEMO"));
    }

    #[test]
    fn pool_sizes_follow_the_process_role_unless_set() {
        const PG: (&str, &str) = ("DATABASE_URL", "postgres://u@localhost/db");
        const SECRET: (&str, &str) = ("VIGIE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let defaults = config(&[PG, SECRET, ("VIGIE_WORKER_CONCURRENCY", "6")]).unwrap();
        assert_eq!((defaults.api_pool_size(), defaults.worker_pool_size()), (20, 10));
        let set = config(&[PG, SECRET, ("VIGIE_DB_MAX_CONNECTIONS", "7")]).unwrap();
        assert_eq!((set.api_pool_size(), set.worker_pool_size()), (7, 7));
        for bad in ["0", "-3", "lots", "1001"] {
            let message = config(&[PG, SECRET, ("VIGIE_DB_MAX_CONNECTIONS", bad)]).unwrap_err().to_string();
            assert!(message.contains("VIGIE_DB_MAX_CONNECTIONS must be 1 to 1000"), "{message}");
        }
    }

    #[test]
    fn production_hides_the_schema_unless_asked() {
        const PG: (&str, &str) = ("DATABASE_URL", "postgres://u@localhost/db");
        const SECRET: (&str, &str) = ("VIGIE_JWT_SECRET", "0123456789abcdef0123456789abcdef");
        let dir = std::env::temp_dir().join(format!("vigie-config-{}", uuid::Uuid::now_v7()));
        let embedded = config(&[("VIGIE_DATA_DIR", dir.to_str().unwrap())]).unwrap();
        assert!(embedded.introspection);
        std::fs::remove_dir_all(dir).unwrap();
        assert!(!config(&[PG, SECRET]).unwrap().introspection);
        assert!(config(&[PG, SECRET, ("VIGIE_INTROSPECTION", "true")]).unwrap().introspection);
        let metrics = config(&[PG, SECRET, ("VIGIE_METRICS_BIND", "127.0.0.1:9464")]).unwrap();
        assert_eq!(metrics.metrics_bind, Some("127.0.0.1:9464".parse().unwrap()));
        let message = config(&[PG, SECRET, ("VIGIE_METRICS_BIND", "metrics")]).unwrap_err().to_string();
        assert!(message.contains("VIGIE_METRICS_BIND"), "{message}");
    }

    #[test]
    fn debug_output_hides_passwords() {
        let cfg = config(&[
            ("DATABASE_URL", "postgres://vigie:hunter2@db/vigie"),
            ("VIGIE_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ])
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("0123456789abcdef"));
    }
}
