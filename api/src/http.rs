//! HTTP routes: `/graphql` (POST for queries, GET for GraphiQL), `/graphql/ws`
//! (subscriptions), `/healthz`, `/readyz`, `/metrics` (on `VIGIE_METRICS_BIND` when set).

use crate::openapi::{ErrorBody, ErrorDetail};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header;
use actix_web::{App, Either, HttpRequest, HttpResponse, HttpServer, web};
use async_graphql_actix_web::GraphQLResponse;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tracing::Instrument;
use vigie_domain::platform::ratelimit::{Quota, RateLimiter};
use vigie_domain::platform::telemetry;
use vigie_domain::{Error, Services, api_keys, demo, platform::health, sources};

use crate::graphql::session::SocketAccess;
use crate::graphql::{self, Gateway};
use crate::metrics::{ErrorLabels, HttpLabels, Metrics, ScopeLabels};
use crate::websocket;

/// Shared state of the HTTP handlers.
pub struct AppState {
    pub services: Arc<Services>,
    pub gateway: Gateway,
    pub metrics: Metrics,
    /// Turns `true` when the server starts stopping: WebSocket connections close then.
    pub closing: watch::Receiver<bool>,
    /// The runtime [`serve`] was called on, where handlers do their database work
    /// ([`AppState::run`]).
    pub runtime: tokio::runtime::Handle,
}

impl AppState {
    /// Runs a handler's work on the runtime the server was started from (the process's
    /// multi-threaded one) and waits for it; a panic in it is an internal error.
    ///
    /// actix-web serves each connection on one of its single-threaded worker runtimes,
    /// and a pooled database connection's socket stays with the runtime that opened it,
    /// which reads its readiness only when idle: work done there waits for another
    /// worker to go idle. On the multi-threaded runtime whichever thread is free drives
    /// every connection. The work also runs to its end if the client goes away, so a
    /// mutation is never cancelled halfway.
    async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, Error>> + Send + 'static,
    ) -> Result<T, Error> {
        // The request's span (route, request id, operation) goes along, so what the
        // work logs can be found by request id.
        match self.runtime.spawn(work.in_current_span()).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => {
                tracing::error!(error = %e, "a request's work panicked");
                Err(Error::internal("the request's work panicked"))
            }
            Err(_) => Err(Error::Unavailable("the server is stopping".into())),
        }
    }
}

/// A bound server: await `server`, stop it with `stopper`.
pub struct Serving {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
    /// Where `/metrics` is served when it has its own listener.
    pub metrics_addr: Option<SocketAddr>,
    pub stopper: Stopper,
}

/// Stops the server gracefully: WebSocket connections are told to close first (they
/// never end by themselves, and would hold the stop for its whole 30-second timeout),
/// then in-flight requests are drained.
#[derive(Clone)]
pub struct Stopper {
    server: actix_web::dev::ServerHandle,
    closing: Arc<watch::Sender<bool>>,
}

impl Stopper {
    /// Stops the server and waits until it has.
    pub async fn stop(&self) {
        let _ = self.closing.send(true);
        self.server.stop(true).await;
    }
}

/// Binds the server; the caller awaits the returned `Server` and stops it with the
/// [`Stopper`] (on SIGINT/SIGTERM, see `main`; in-flight requests get 30 seconds).
/// Handlers do their work on the tokio runtime this is called from.
pub fn serve(services: Arc<Services>, bind: SocketAddr) -> std::io::Result<Serving> {
    let metrics_bind = services.config.metrics_bind;
    let (closing, closing_rx) = watch::channel(false);
    let state = web::Data::new(AppState {
        gateway: Gateway::build(services.clone()),
        metrics: Metrics::new(&services.job_metrics),
        services,
        closing: closing_rx,
        runtime: tokio::runtime::Handle::current(),
    });
    // With `VIGIE_METRICS_BIND`, one server listens on both addresses and each request
    // is routed by the address it arrived on (known once bound, hence the cell).
    let metrics_listener = Arc::new(std::sync::OnceLock::<SocketAddr>::new());
    let listener = metrics_listener.clone();
    let server = HttpServer::new(move || {
        let metrics_state = state.clone();
        let listener = listener.clone();
        App::new()
            .app_data(state.clone())
            .app_data(web::JsonConfig::default().limit(1 << 20))
            .wrap_fn(move |req, srv| {
                if let Some(metrics_addr) = listener.get() {
                    let on_metrics_listener = req.app_config().local_addr() == *metrics_addr;
                    if on_metrics_listener != (req.path() == "/metrics") {
                        let (request, _) = req.into_parts();
                        let response = HttpResponse::NotFound().finish();
                        return Box::pin(async move { Ok(ServiceResponse::new(request, response)) })
                            as futures_util::future::LocalBoxFuture<'static, _>;
                    }
                }
                let started = Instant::now();
                let method = method_label(req.method());
                let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
                let request_id = request_id(req.headers().get(REQUEST_ID));
                let metrics_state = metrics_state.clone();
                // The route is the pattern (`/r/{token}`), never the path: no secret in the log.
                // Probes are polled every few seconds: their spans stay out of the traces.
                macro_rules! request_span {
                    ($level:expr) => {
                        tracing::span!(
                            $level,
                            "http",
                            otel.name = %format_args!("{method} {route}"),
                            otel.kind = "server",
                            %method,
                            %route,
                            %request_id,
                            operation = tracing::field::Empty,
                            status = tracing::field::Empty,
                            otel.status_code = tracing::field::Empty,
                        )
                    };
                }
                let span = if is_probe(&route) {
                    request_span!(tracing::Level::DEBUG)
                } else {
                    request_span!(tracing::Level::INFO)
                };
                let traceparent = req.headers().get(telemetry::TRACEPARENT).and_then(|v| v.to_str().ok());
                telemetry::follow_caller(&span, traceparent, metrics_state.services.config.trust_traceparent);
                let fut = srv.call(req);
                async move {
                    let mut response = fut.await?;
                    let status = response.status().as_u16();
                    let elapsed = started.elapsed().as_secs_f64();
                    let duration_ms = (elapsed * 100_000.0).round() / 100.0;
                    if is_probe(&route) {
                        tracing::debug!(status, duration_ms, "request");
                    } else {
                        tracing::info!(status, duration_ms, "request");
                    }
                    // On the span for traces, after the log line, which has it already.
                    let span = tracing::Span::current();
                    span.record("status", status);
                    if status >= 500 {
                        span.record("otel.status_code", "error");
                    }
                    if let Ok(value) = header::HeaderValue::from_str(&request_id) {
                        response.headers_mut().insert(header::HeaderName::from_static(REQUEST_ID), value);
                    }
                    let labels = HttpLabels { method, route, status };
                    metrics_state.metrics.http_requests.get_or_create(&labels).inc();
                    metrics_state.metrics.http_duration.get_or_create(&labels).observe(elapsed);
                    Ok(response)
                }
                .instrument(span)
                .boxed_local()
            })
            .configure(routes)
    })
    .shutdown_timeout(30)
    .disable_signals()
    .bind(bind)?;
    let addr = server.addrs().first().copied().unwrap_or(bind);
    let server = match metrics_bind {
        Some(metrics_bind) => {
            let server = server.bind(metrics_bind)?;
            let bound = server.addrs().last().copied().unwrap_or(metrics_bind);
            let _ = metrics_listener.set(bound);
            server
        }
        None => server,
    };
    let server = server.run();
    let stopper = Stopper { server: server.handle(), closing: Arc::new(closing) };
    Ok(Serving { server, addr, metrics_addr: metrics_listener.get().copied(), stopper })
}

/// The header that names a request in the access log, the traces and the answer.
const REQUEST_ID: &str = "x-request-id";

/// The caller's request id when it is one a log can hold as is (up to 128 of
/// `A-Z a-z 0-9 - _ . : /`, as proxies and load balancers write them), else a new one.
fn request_id(given: Option<&header::HeaderValue>) -> String {
    let usable = |id: &&str| {
        !id.is_empty()
            && id.len() <= 128
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
    };
    match given.and_then(|v| v.to_str().ok()).filter(usable) {
        Some(id) => id.to_owned(),
        None => uuid::Uuid::now_v7().simple().to_string(),
    }
}

/// Routes that orchestrators and scrapers poll every few seconds: logged at `debug`.
fn is_probe(route: &str) -> bool {
    matches!(route, "/healthz" | "/readyz" | "/metrics")
}

/// The routes, also used by in-process tests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/graphql").route(web::post().to(graphql_post)).route(web::get().to(graphql_get)))
        .route("/graphql/ws", web::get().to(graphql_ws))
        .route("/graphiql/{file}", web::get().to(graphiql_asset))
        .service(
            web::resource("/ingest/mentions")
                .route(web::post().to(ingest_mentions))
                .default_service(web::to(|| not_allowed("POST"))),
        )
        .service(readable("/calendar/{file}").route(web::get().to(calendar_feed)).route(web::head().to(calendar_feed)))
        .service(readable("/r/{token}").route(web::get().to(report_page)).route(web::head().to(report_page)))
        .service(readable("/r/{token}/{file}").route(web::get().to(report_csv)).route(web::head().to(report_csv)))
        .service(
            web::resource("/demo/webhooks")
                .app_data(web::PayloadConfig::new(demo::receiver::MAX_BODY))
                .route(web::post().to(demo_receiver)),
        )
        .service(readable("/oauth/{network}/callback").route(web::get().to(oauth_callback)))
        .service(
            web::resource("/webhooks/meta")
                .route(web::get().to(meta_verification))
                .route(web::post().to(meta_delivery))
                .default_service(web::to(|| not_allowed("GET, POST"))),
        )
        .service(readable("/healthz").route(web::get().to(healthz)).route(web::head().to(healthz)))
        .service(readable("/readyz").route(web::get().to(readyz)).route(web::head().to(readyz)))
        .service(readable("/openapi.json").route(web::get().to(openapi_json)).route(web::head().to(openapi_json)))
        .service(readable("/metrics").route(web::get().to(metrics)).route(web::head().to(metrics)));
}

/// A resource read with `GET` (and `HEAD`): any other method gets 405 with `Allow`.
fn readable(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| not_allowed("GET, HEAD")))
}

/// `405 Method Not Allowed`, naming the methods that are.
async fn not_allowed(allow: &'static str) -> HttpResponse {
    let refused = Error::bad_input("method", format!("this route answers {allow}"));
    let mut response = error_response(&refused);
    *response.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
    response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

/// A request method as a metric label: the standard ones by name, any other as
/// `OTHER`, so that invented methods cannot grow the label set without bound.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN.iter().find(|known| *known == method).map_or("OTHER", Method::as_str)
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's network, the key of anonymous quotas: the address for IPv4, its /64
/// for IPv6 (one subscriber gets a whole /64, so counting addresses one by one would
/// give each attacker billions of buckets). Behind a proxy (`VIGIE_BEHIND_PROXY`) the
/// address is the last `X-Forwarded-For` entry: the one the proxy wrote, which a client
/// cannot forge (earlier entries it can).
fn client_network(req: &HttpRequest, behind_proxy: bool) -> String {
    let forwarded = behind_proxy
        // The last header line: a proxy that adds a line of its own leaves the client's first.
        .then(|| req.headers().get_all("x-forwarded-for").last()?.to_str().ok()?.rsplit(',').next().map(str::trim))
        .flatten()
        .filter(|addr| !addr.is_empty());
    let address = match forwarded {
        Some(addr) => addr.parse::<std::net::IpAddr>().ok().or_else(|| addr.parse::<SocketAddr>().ok().map(|a| a.ip())),
        None => req.peer_addr().map(|peer| peer.ip()),
    };
    match address.map(|ip| ip.to_canonical()) {
        Some(std::net::IpAddr::V6(v6)) => {
            let segments = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", segments[0], segments[1], segments[2], segments[3])
        }
        Some(ip) => ip.to_string(),
        // A forwarded value that is no address is kept whole: still one bucket per value.
        None => forwarded.unwrap_or_default().to_owned(),
    }
}

/// A rate-limit bucket: the key the limiter counts under, its quota, and the scope
/// refusals are counted per. One constructor per kind, so that every path drawing on a
/// bucket (a POST and a WebSocket operation alike) names it the same way.
#[derive(Clone)]
struct Bucket {
    scope: &'static str,
    key: String,
    quota: Option<Quota>,
}

impl Bucket {
    /// An agency's GraphQL bucket.
    fn graphql(state: &AppState, agency_id: uuid::Uuid) -> Self {
        let quota = state.services.config.rate_limits.graphql;
        Bucket { scope: "graphql", key: format!("graphql:{agency_id}"), quota }
    }

    /// An agency's ingest bucket.
    fn ingest(state: &AppState, agency_id: uuid::Uuid) -> Self {
        let quota = state.services.config.rate_limits.ingest;
        Bucket { scope: "ingest", key: format!("ingest:{agency_id}"), quota }
    }

    /// A client network's bucket, for requests without valid credentials and for
    /// credential mutations.
    fn anonymous(state: &AppState, address: &str) -> Self {
        let quota = state.services.config.rate_limits.anonymous;
        Bucket { scope: "anonymous", key: format!("anon:{address}"), quota }
    }
}

/// Takes a token from `bucket`; counts refusals per scope.
async fn admit(state: &AppState, bucket: &Bucket) -> Result<(), Error> {
    let admitted = state.services.limiter.check(&bucket.key, bucket.quota).await;
    refused(state, bucket, admitted)
}

/// [`admit`], saying whether the limiter counted the request (see
/// [`vigie_domain::platform::ratelimit::RateLimiter::check_counted`]).
async fn admit_counted(state: &AppState, bucket: &Bucket) -> Result<bool, Error> {
    let admitted = state.services.limiter.check_counted(&bucket.key, bucket.quota).await;
    refused(state, bucket, admitted)
}

/// Takes a token for a credential mutation from the client network's bucket, refusing
/// when the limiter cannot be reached.
async fn admit_credentials(state: &AppState, address: &str) -> Result<(), Error> {
    let bucket = Bucket::anonymous(state, address);
    let admitted = state.services.limiter.check_strict(&bucket.key, bucket.quota).await;
    refused(state, &bucket, admitted)
}

fn refused<T>(state: &AppState, bucket: &Bucket, admitted: Result<T, Error>) -> Result<T, Error> {
    if admitted.is_err() {
        tracing::info!(scope = bucket.scope, bucket = bucket.key, "request refused by the rate limiter");
        state.metrics.rate_limited.get_or_create(&ScopeLabels { scope: bucket.scope }).inc();
    }
    admitted
}

/// Admits an anonymous request (no or bad credentials) by its client address.
async fn admit_anonymous(state: &AppState, req: &HttpRequest) -> Result<(), Error> {
    admit(state, &Bucket::anonymous(state, &client_network(req, state.services.config.behind_proxy))).await
}

/// `Retry-After` for a rate-limited or unavailable error.
fn retry_after(error: &Error) -> Option<u64> {
    match error {
        Error::RateLimited { retry_after } => Some(vigie_domain::platform::error::retry_after_secs(*retry_after)),
        Error::Unavailable(_) => Some(5),
        _ => None,
    }
}

/// A GraphQL request refused before it ran (rate limited, too large, not JSON): the
/// error's HTTP status, `Retry-After` when it has one, and the error in GraphQL's shape
/// so that clients read it like any other (`extensions.code`).
fn graphql_refusal(error: &Error) -> HttpResponse {
    let mut extensions = serde_json::json!({ "code": error.code() });
    let mut response = HttpResponse::build(status_of(error));
    if let Some(seconds) = retry_after(error) {
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        extensions["retryAfter"] = seconds.into();
    }
    if matches!(error, Error::TooLarge(_)) {
        // Otherwise the server would read the rest of the body to keep the connection.
        response.force_close();
    }
    response.json(serde_json::json!({
        "data": null,
        "errors": [{ "message": error.to_string(), "extensions": extensions }],
    }))
}

/// `POST /graphql`. The quota is taken before the body is read: per agency for a valid
/// access token (checked without a database read), per client network otherwise. The
/// body is read up to `VIGIE_MAX_BODY_BYTES`; a credential mutation sent with a valid
/// token then draws on the client network's quota too, so that a token does not buy
/// password guesses.
async fn graphql_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Either<GraphQLResponse, HttpResponse> {
    let limit = state.services.config.max_body_bytes;
    graphql_http(state, &req, read_graphql(&req, payload, limit), false).await
}

/// `GET /graphql`: a query in the URL (`query`, `operationName`, and `variables` and
/// `extensions` as JSON), so that an automatic persisted query, sent as its hash alone,
/// makes a short URL that a CDN may cache. Mutations are refused (405): a link must not
/// change anything. A browser (asking for HTML), or a request without a query, gets the
/// GraphiQL page.
async fn graphql_get(state: web::Data<AppState>, req: HttpRequest) -> Either<GraphQLResponse, HttpResponse> {
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if req.query_string().is_empty() || accept.contains("text/html") {
        return Either::Right(graphiql(state).await);
    }
    let read = async { graphql_from_url(req.query_string()) };
    graphql_http(state, &req, read, true).await
}

/// The GraphQL request in a URL's query string, with GraphQL over HTTP's names
/// (`operationName`, and `variables` and `extensions` as JSON).
fn graphql_from_url(query_string: &str) -> Result<async_graphql::Request, Error> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Params {
        #[serde(default)]
        query: String,
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
    }
    let params = web::Query::<Params>::from_query(query_string)
        .map_err(|error| Error::bad_input("query", format!("the query string: {error}")))?
        .into_inner();
    let json = |field: &str, raw: Option<String>| -> Result<serde_json::Value, Error> {
        raw.map_or(Ok(serde_json::Value::Null), |raw| {
            serde_json::from_str(&raw).map_err(|error| Error::bad_input(field, format!("is not JSON: {error}")))
        })
    };
    let mut request = async_graphql::Request::new(params.query)
        .variables(async_graphql::Variables::from_json(json("variables", params.variables)?));
    request.operation_name = params.operation_name;
    if let serde_json::Value::Object(extensions) = json("extensions", params.extensions)? {
        for (name, value) in extensions {
            let value = async_graphql::Value::from_json(value)
                .map_err(|error| Error::bad_input("extensions", format!("{error}")))?;
            request.extensions.insert(name, value);
        }
    }
    Ok(request)
}

/// A GraphQL request over HTTP, from its admission to its response (see
/// [`graphql_post`]).
async fn graphql_http(
    state: web::Data<AppState>,
    req: &HttpRequest,
    read: impl Future<Output = Result<async_graphql::Request, Error>>,
    from_url: bool,
) -> Either<GraphQLResponse, HttpResponse> {
    let claims = bearer(req).map(|token| state.services.tokens.verify(token));
    let address = client_network(req, state.services.config.behind_proxy);
    // The quota is taken before the body is read. Whether the request carries
    // credentials is known only once it is parsed: an anonymous one that the limiter
    // could not count (Redis down) is refused then if it does, served if it does not.
    let authenticated = matches!(claims, Some(Ok(_)));
    let with_credentials = claims.is_some();
    let admitted = match &claims {
        Some(Ok(claims)) => admit(&state, &Bucket::graphql(&state, claims.agency_id())).await.map(|()| true),
        _ => admit_counted(&state, &Bucket::anonymous(&state, &address)).await,
    };
    let counted = match admitted {
        Ok(counted) => counted,
        Err(refused) => return Either::Right(graphql_refusal(&refused)),
    };
    let mut request = match read.await {
        Ok(request) => request,
        Err(refused) => return Either::Right(graphql_refusal(&refused)),
    };
    let response = match state.gateway.prepare(&mut request).await {
        Err(refused) => graphql::errors::refused(refused),
        Ok(_) if from_url && !graphql::limits::only_queries(&mut request) => {
            let refused = Error::bad_input("query", "only queries may be sent with GET: send mutations with POST");
            let mut refusal = graphql_refusal(&refused);
            *refusal.status_mut() = actix_web::http::StatusCode::METHOD_NOT_ALLOWED;
            refusal.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
            return Either::Right(refusal);
        }
        Ok(checked) => {
            // Counted once the document is valid (its operation exists), and by name only
            // for signed-in callers: anonymous ones cannot use up the label slots.
            let name = request.operation_name.as_deref().filter(|_| authenticated);
            let operation = state.metrics.operation(name);
            tracing::Span::current().record("operation", operation.as_str());
            if checked.credentials && !authenticated && !counted {
                return Either::Right(graphql_refusal(&RateLimiter::uncounted_credentials()));
            }
            if checked.credentials
                && authenticated
                && let Err(refused) = admit_credentials(&state, &address).await
            {
                return Either::Right(graphql_refusal(&refused));
            }
            let (gateway, services) = (state.gateway.clone(), state.services.clone());
            let request = request.data(graphql::ClientNetwork(address));
            state
                .run(async move { Ok(graphql::execute_prepared(&gateway, &services, claims, request, checked).await) })
                .await
                .unwrap_or_else(graphql::errors::failed)
        }
    };
    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .map(|v| v.to_string().trim_matches('"').to_owned())
            .unwrap_or_default();
        state.metrics.graphql_errors.get_or_create(&ErrorLabels { code }).inc();
    }
    if from_url {
        // A CDN may keep an anonymous answer only for as long as the fields asked allow
        // (async-graphql's cache control; none says so today), and never one that a
        // credential opened.
        use actix_web::Responder;
        let cacheable = !with_credentials && response.cache_control.value().is_some();
        let mut http = GraphQLResponse::from(response).respond_to(req).map_into_boxed_body();
        if !cacheable {
            let private = header::HeaderValue::from_static("private, no-store");
            http.headers_mut().insert(header::CACHE_CONTROL, private);
        }
        http.headers_mut().insert(header::VARY, header::HeaderValue::from_static("Authorization"));
        return Either::Right(http);
    }
    Either::Left(response.into())
}

/// Reads a GraphQL request (JSON) of at most `limit` bytes, refusing a larger one as
/// soon as its declared length or the bytes read so far pass the limit, and refusing
/// multipart bodies (Vigie takes no uploads).
async fn read_graphql(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<async_graphql::Request, Error> {
    use futures_util::StreamExt;
    let too_large = || Error::TooLarge(format!("the request body is larger than {limit} bytes"));
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if content_type.trim_start().get(..10).is_some_and(|t| t.eq_ignore_ascii_case("multipart/")) {
        return Err(Error::bad_input("body", "multipart requests are not accepted: send the request as JSON"));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    // What a client declares is not allocated before it arrives.
    let mut body = web::BytesMut::with_capacity(declared.map_or(4096, |length| length as usize).min(64 << 10));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| Error::bad_input("body", format!("cannot read the request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body)
        .map_err(|e| Error::bad_input("body", format!("not a GraphQL request (JSON with a `query`): {e}")))
}

/// `GET /graphql/ws`: subscriptions over graphql-ws (or the older
/// subscriptions-transport-ws). The access token comes in the `connection_init` payload
/// (`{"Authorization": "Bearer …"}` or `{"token": "…"}`), or on the upgrade request.
///
/// The upgrade draws on the client address's anonymous quota (it comes before any
/// credentials); then each operation the connection starts takes a token from the
/// caller's quota, as a POST would ([`graphql::limits::SocketQuota`]).
async fn graphql_ws(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let address = client_network(&req, state.services.config.behind_proxy);
    if let Err(refused) = admit(&state, &Bucket::anonymous(&state, &address)).await {
        return Ok(error_response(&refused));
    }
    let header_token = bearer(&req).map(str::to_owned);
    let gateway = state.gateway.clone();
    let closing = state.closing.clone();
    let (revoke, revoked) = tokio::sync::oneshot::channel();
    let max_message = state.services.config.max_body_bytes;
    let on_init: websocket::OnInit = Box::new(move |init| {
        Box::pin(async move {
            let token = init_token(&init).or(header_token);
            let (access, auth) = SocketAccess::open(state.services.clone(), token.as_deref()).await;
            let agency = match &auth {
                Ok(Some(actor)) => Some(actor.agency_id()),
                _ => None,
            };
            let access = Arc::new(access);
            // Watches the connection's access for as long as the socket is open (the
            // receiver drops with it).
            let (watched, initial) = (access.clone(), auth.ok().flatten());
            state.runtime.spawn(async move {
                let mut revoke: tokio::sync::oneshot::Sender<&'static str> = revoke;
                tokio::select! {
                    _ = revoke.closed() => {}
                    reason = watched.ended(initial) => { let _ = revoke.send(reason); }
                }
            });
            let mut data = async_graphql::Data::default();
            data.insert(access);
            data.insert(graphql::ClientNetwork(address.clone()));
            // An anonymous socket's operations draw on the network's quota strictly
            // (refused while the limiter is down: they are mostly credential mutations);
            // an authenticated one's on its agency's, plus the network's, strictly, for a
            // credential mutation.
            let strict: graphql::limits::Admit = {
                let state = state.clone();
                Arc::new(move || {
                    let (state, address) = (state.clone(), address.clone());
                    Box::pin(async move { admit_credentials(&state, &address).await }) as BoxFuture<'static, _>
                })
            };
            let quota = match agency {
                Some(agency) => {
                    let bucket = Bucket::graphql(&state, agency);
                    let per_operation: graphql::limits::Admit = Arc::new(move || {
                        let (state, bucket) = (state.clone(), bucket.clone());
                        Box::pin(async move { admit(&state, &bucket).await })
                    });
                    graphql::limits::SocketQuota::new(per_operation, Some(strict))
                }
                None => graphql::limits::SocketQuota::new(strict, None),
            };
            data.insert(quota);
            Ok(data)
        })
    });
    websocket::start(gateway, &req, payload, on_init, closing, revoked, max_message)
}

/// The bearer token of a `connection_init` payload.
fn init_token(init: &serde_json::Value) -> Option<String> {
    let value = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| init.get(*k))
        .or_else(|| init.get("headers").and_then(|h| h.get("Authorization").or_else(|| h.get("authorization"))))
        .and_then(|v| v.as_str())
        .map(|v| v.split_once(' ').map_or(v, |(_, token)| token).trim().to_owned());
    value.or_else(|| init.get("token").and_then(|v| v.as_str()).map(str::to_owned))
}

/// `GET /oauth/{network}/callback`: where a network sends the manager's browser after
/// consent. The `state` finds the authorisation Vigie started (once, within ten
/// minutes); the code is exchanged with its PKCE verifier and the tokens kept sealed
/// until the manager who started it completes the connection in Vigie with the ticket
/// (`completeOAuthConnection`): the browser goes to `VIGIE_APP_URL` with
/// `?oauthTicket=…`, or, without one, the page shows the ticket. The URL carries the
/// code: nothing is cached and no referrer sent.
#[utoipa::path(
    get,
    path = "/oauth/{network}/callback",
    tag = "connections",
    summary = "The OAuth 2 redirect URI registered with each network's application",
    params(
        ("network" = String, Path, description = "`youtube`, `reddit`, `x`, `google`, `facebook`, `instagram` or `linkedin`"),
        ("code" = Option<String>, Query, description = "The authorisation code"),
        ("state" = Option<String>, Query, description = "The state Vigie sent with the authorisation"),
        ("error" = Option<String>, Query, description = "`access_denied` when the manager refused"),
    ),
    responses(
        (status = 200, description = "Authorised: the page shows the ticket that completes it", content_type = "text/html", body = String),
        (status = 303, description = "Authorised: back to the front-end (`VIGIE_APP_URL`) with the ticket"),
        (status = 400, description = "Unknown, used or expired state, or consent refused", content_type = "text/html", body = String),
        (status = 403, description = "The manager who started it no longer manages the agency or brand", content_type = "text/html", body = String),
        (status = 502, description = "The network did not accept the code", content_type = "text/html", body = String),
    ),
)]
async fn oauth_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    network: web::Path<String>,
    query: web::Query<vigie_domain::connections::oauth::Callback>,
) -> HttpResponse {
    use actix_web::http::StatusCode;
    use vigie_domain::connections::oauth::{self, CallbackError};
    if let Err(refused) = admit_anonymous(&state, &req).await {
        return error_response(&refused);
    }
    let page = |status: StatusCode, title: &str, detail: String| {
        let body = format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Vigie: {title}</title>\
             <body style=\"font-family:system-ui;margin:3rem\"><h1>{title}</h1><p>{}</p></body></html>",
            html_escape::encode_text(&detail)
        );
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("referrer-policy", "no-referrer"))
            .insert_header(("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'"))
            .body(body)
    };
    match oauth::callback(&state.services, &network, query.into_inner()).await {
        Ok(consented) => match &state.services.config.app_url {
            Some(app) => {
                let mut back = app.clone();
                back.query_pairs_mut()
                    .append_pair("oauthTicket", &consented.ticket)
                    .append_pair("network", &consented.network.name());
                for (id, name) in &consented.choices {
                    back.query_pairs_mut().append_pair("account", &format!("{id} {name}"));
                }
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, back.to_string()))
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .insert_header(("referrer-policy", "no-referrer"))
                    .finish()
            }
            None => {
                let whom = match &consented.brand {
                    Some(brand) => format!("the brand {brand} of the agency {}", consented.agency),
                    None => format!("the agency {}", consented.agency),
                };
                let choose = match consented.choices.as_slice() {
                    [] => String::new(),
                    choices => format!(
                        " It granted several accounts: name one with account: \"…\", one of {}.",
                        choices.iter().map(|(id, name)| format!("{id} ({name})")).collect::<Vec<_>>().join(", ")
                    ),
                };
                page(
                    StatusCode::OK,
                    "Almost connected",
                    format!(
                        "{} authorised Vigie on {} for {whom}. If you did not start this from that agency's \
                         Vigie, close this page. To finish, the manager who started it completes it in Vigie \
                         within 10 minutes: completeOAuthConnection(ticket: \"{}\"). Give this ticket to no \
                         one else.{choose}",
                        consented.account,
                        consented.network.name(),
                        consented.ticket
                    ),
                )
            }
        },
        Err(e @ (CallbackError::UnknownState | CallbackError::Denied(_))) => {
            page(StatusCode::BAD_REQUEST, "Not connected", e.to_string())
        }
        Err(e @ CallbackError::Forbidden) => page(StatusCode::FORBIDDEN, "Not connected", e.to_string()),
        Err(e @ CallbackError::Exchange(_)) => {
            tracing::warn!(error = %e, "OAuth callback failed");
            page(StatusCode::BAD_GATEWAY, "Not connected", e.to_string())
        }
        Err(CallbackError::Failed(e)) => error_response(&e),
    }
}

#[derive(serde::Deserialize)]
struct MetaVerification {
    #[serde(rename = "hub.mode", default)]
    mode: String,
    #[serde(rename = "hub.verify_token", default)]
    verify_token: String,
    #[serde(rename = "hub.challenge", default)]
    challenge: String,
}

/// `GET /webhooks/meta`: Meta's check of the callback, answered with its challenge when
/// the verify token is the operator's.
#[utoipa::path(
    get,
    path = "/webhooks/meta",
    tag = "connections",
    summary = "Meta's verification of the webhook callback",
    params(
        ("hub.mode" = String, Query, description = "`subscribe`"),
        ("hub.verify_token" = String, Query, description = "The token set as `VIGIE_META_VERIFY_TOKEN`"),
        ("hub.challenge" = String, Query, description = "Sent back as the body"),
    ),
    responses(
        (status = 200, description = "The challenge", content_type = "text/plain", body = String),
        (status = 403, description = "Another token, or webhooks not configured"),
    ),
)]
async fn meta_verification(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Err(refused) = admit_anonymous(&state, &req).await {
        return error_response(&refused);
    }
    let Ok(query) = web::Query::<MetaVerification>::from_query(req.query_string()) else {
        return HttpResponse::Forbidden().finish();
    };
    let config = &state.services.config;
    match sources::meta_webhooks::verify(config, &query.mode, &query.verify_token, &query.challenge) {
        Some(challenge) => HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(challenge),
        None => HttpResponse::Forbidden().finish(),
    }
}

/// `POST /webhooks/meta`: a delivery from Meta, signed with the app secret
/// (`X-Hub-Signature-256`); what it notifies is read and stored by a job at once.
#[utoipa::path(
    post,
    path = "/webhooks/meta",
    tag = "connections",
    summary = "Comments on Facebook Pages and Instagram accounts, as Meta delivers them",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of the body under the app secret")),
    request_body(content = String, content_type = "application/json", description = "Meta's delivery (`object`, `entry[].changes[]`)"),
    responses(
        (status = 200, description = "Accepted: what it notifies is read from Graph and stored by a job"),
        (status = 400, description = "The body cannot be read", body = ErrorBody),
        (status = 401, description = "No valid signature (or Meta not configured: `VIGIE_META_CLIENT_ID`)", body = ErrorBody),
        (status = 413, description = "More than 4 MiB", body = ErrorBody),
        (status = 429, description = "Too many refused deliveries from this network", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
async fn meta_delivery(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // No body is read for a delivery that cannot be signed: a refused sender costs a
    // header's check, and draws on its network's quota.
    let configured = state.services.config.meta.is_some();
    if !configured || !signature.as_deref().is_some_and(|s| s.len() == 71 && s.starts_with("sha256=")) {
        let refused = Error::Unauthenticated("send the delivery's X-Hub-Signature-256".into());
        return error_response(&admit_anonymous(&state, &req).await.err().unwrap_or(refused));
    }
    let body = match payload.to_bytes_limited(sources::meta_webhooks::MAX_BODY).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return error_response(&Error::bad_input("body", format!("cannot be read: {e}"))),
        Err(_) => return error_response(&Error::TooLarge("at most 4 MiB per delivery".into())),
    };
    let task = state.clone().into_inner();
    let delivered = state
        .run(async move { sources::meta_webhooks::deliver(&task.services, &body, signature.as_deref()).await })
        .await;
    match delivered {
        Ok(_) => HttpResponse::Ok().finish(),
        // A refused delivery draws on the sender's network quota: guessing is bounded.
        Err(e @ Error::Unauthenticated(_)) => error_response(&admit_anonymous(&state, &req).await.err().unwrap_or(e)),
        Err(e) => error_response(&e),
    }
}

/// `GET /calendar/{token}.ics`: a brand's calendar as iCal, for whoever holds the share
/// token. Unknown, revoked and expired tokens all get the same 404 with no data.
#[utoipa::path(
    get,
    path = "/calendar/{token}.ics",
    tag = "sharing",
    summary = "A brand's content calendar as an iCalendar feed",
    params(("token" = String, Path, description = "The calendar's share token")),
    responses(
        (status = 200, description = "The calendar (RFC 5545)", content_type = "text/calendar", body = String),
        crate::openapi::ShareRefused,
    ),
)]
async fn calendar_feed(state: web::Data<AppState>, req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    if let Err(refused) = admit_anonymous(&state, &req).await {
        return error_response(&refused);
    }
    let Some(token) = file.strip_suffix(".ics") else {
        return HttpResponse::NotFound().finish();
    };
    let (services, token) = (state.services.clone(), token.to_owned());
    match state.run(async move { vigie_domain::calendar::ical::feed(&services, &token).await }).await {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/calendar; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
            .body(body),
        Err(Error::NotFound(_)) => HttpResponse::NotFound().finish(),
        Err(e) => error_response(&e),
    }
}

/// `GET /r/{token}`: the shared report page. Bad tokens get an empty 404.
#[utoipa::path(
    get,
    path = "/r/{token}",
    tag = "sharing",
    summary = "A shared report as a web page",
    params(("token" = String, Path, description = "The report's share token")),
    responses(
        (status = 200, description = "The report", content_type = "text/html", body = String),
        crate::openapi::ShareRefused,
    ),
)]
async fn report_page(state: web::Data<AppState>, req: HttpRequest, token: web::Path<String>) -> HttpResponse {
    if let Err(refused) = admit_anonymous(&state, &req).await {
        return error_response(&refused);
    }
    match open_report(&state, &token).await {
        Ok(report) => {
            let base = vigie_domain::reports::url(&state.services, &token);
            let page = match vigie_domain::reports::html::render(&report, &base) {
                Ok(page) => page,
                Err(e) => return error_response(&e),
            };
            HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "private, no-store"))
                .insert_header(("referrer-policy", "no-referrer"))
                .insert_header((
                    "content-security-policy",
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                ))
                .body(page)
        }
        Err(Error::NotFound(_)) => HttpResponse::NotFound().finish(),
        Err(e) => error_response(&e),
    }
}

/// `GET /r/{token}/{section}.csv`: one section's data.
#[utoipa::path(
    get,
    path = "/r/{token}/{section}.csv",
    tag = "sharing",
    summary = "One section of a shared report as CSV",
    params(
        ("token" = String, Path, description = "The report's share token"),
        ("section" = String, Path, description = "A section the report links to, such as `mentions` or `influencers`"),
    ),
    responses(
        (status = 200, description = "The section's rows (RFC 4180, a header line first)", content_type = "text/csv", body = String),
        crate::openapi::ShareRefused,
    ),
)]
async fn report_csv(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(String, String)>) -> HttpResponse {
    if let Err(refused) = admit_anonymous(&state, &req).await {
        return error_response(&refused);
    }
    let (token, file) = path.into_inner();
    let Some(section) = file.strip_suffix(".csv") else { return HttpResponse::NotFound().finish() };
    match open_report(&state, &token).await {
        Ok(report) => match vigie_domain::reports::csv::section(&report, section) {
            Some(body) => HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "private, no-store"))
                .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{section}.csv\"")))
                .body(body),
            None => HttpResponse::NotFound().finish(),
        },
        Err(Error::NotFound(_)) => HttpResponse::NotFound().finish(),
        Err(e) => error_response(&e),
    }
}

/// The report a share token opens (the page and its CSV sections render it after).
async fn open_report(state: &AppState, token: &str) -> Result<vigie_domain::reports::Report, Error> {
    let (services, token) = (state.services.clone(), token.to_owned());
    state.run(async move { vigie_domain::reports::open(&services, &token).await }).await
}

/// The largest ingest body accepted (1,000 items of a few KiB).
const INGEST_BODY_LIMIT: usize = 8 << 20;

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct IngestQuery {
    /// A global id or a bare UUID, as GraphQL arguments take them.
    brand_id: Option<String>,
}

/// `POST /ingest/mentions` with an API key (`Authorization: Bearer vgk_…`); body: a JSON
/// array or NDJSON. Answers 200 with the report, or 422 when every item was refused.
#[utoipa::path(
    post,
    path = "/ingest/mentions",
    tag = "ingest",
    summary = "Push mentions collected elsewhere",
    description = "Up to 1,000 items as a JSON array, or as NDJSON (one item a line, \
                   `application/x-ndjson`), of at most 8 MiB. Each item is checked on its own; \
                   pushing an item again (same `externalId`) updates it.",
    params(("brandId" = Option<String>, Query, description = "The brand (a global id or a UUID); required with an agency-wide key, and must be the key's own with a brand key")),
    request_body(content(
        (Vec<vigie_domain::sources::ingest::Item> = "application/json"),
        (String = "application/x-ndjson"),
    )),
    responses(
        (status = 200, description = "Stored; `rejected` lists the items refused, if any", body = vigie_domain::sources::ingest::Report),
        (status = 422, description = "Every item was refused", body = vigie_domain::sources::ingest::Report),
        (status = 400, description = "Not a JSON array nor NDJSON, a bad `brandId`, or no brand named by an agency-wide key", body = ErrorBody),
        (status = 401, description = "No API key, or one that is unknown or revoked", body = ErrorBody),
        (status = 403, description = "The key is limited to another brand", body = ErrorBody),
        (status = 404, description = "No such brand in the key's agency", body = ErrorBody),
        (status = 413, description = "More than 1,000 items or 8 MiB", body = ErrorBody),
        (status = 429, description = "The agency's ingest quota, or too many bad keys from this network", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A dependency is down; retry", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("apiKey" = [])),
)]
async fn ingest_mentions(state: web::Data<AppState>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    // The key comes first, and the body is read only then: an anonymous caller learns
    // nothing of what else is wrong with its request, and cannot make the server buffer
    // megabytes.
    let secret = bearer(&req).map(str::to_owned);
    let address = client_network(&req, state.services.config.behind_proxy);
    let task = state.clone().into_inner();
    let key = match state.run(async move { admit_key(&task, secret, &address).await }).await {
        Ok(key) => key,
        Err(e) => return error_response(&e),
    };
    let body = match payload.to_bytes_limited(INGEST_BODY_LIMIT).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return error_response(&Error::bad_input("body", format!("cannot be read: {e}"))),
        Err(_) => {
            let limit = format!("at most {} MiB per request: send several requests", INGEST_BODY_LIMIT >> 20);
            return error_response(&Error::TooLarge(limit));
        }
    };
    let query = req.query_string().to_owned();
    let task = state.clone().into_inner();
    let ingested = state.run(async move { ingest(&task, &key, &query, &body).await }).await;
    match ingested {
        Ok(report) if report.accepted == 0 && !report.rejected.is_empty() => {
            HttpResponse::UnprocessableEntity().json(report)
        }
        Ok(report) => HttpResponse::Ok().json(report),
        Err(e) => error_response(&e),
    }
}

/// The API key a request presents, once it is known and its agency's ingest quota has a
/// token (failed attempts draw on the address's quota, which bounds key guessing).
async fn admit_key(state: &AppState, secret: Option<String>, address: &str) -> Result<api_keys::KeyPrincipal, Error> {
    let key = match secret {
        Some(secret) => api_keys::authenticate(&state.services, &secret).await,
        None => Err(Error::Unauthenticated("send the API key as `Authorization: Bearer vgk_…`".into())),
    };
    let key = match key {
        Ok(key) => key,
        Err(e) => return Err(admit(state, &Bucket::anonymous(state, address)).await.err().unwrap_or(e)),
    };
    admit(state, &Bucket::ingest(state, key.agency_id())).await?;
    Ok(key)
}

/// Ingests `body` for the brand `query` names, as `key` may.
async fn ingest(
    state: &AppState,
    key: &api_keys::KeyPrincipal,
    query: &str,
    body: &[u8],
) -> Result<sources::ingest::Report, Error> {
    let query = web::Query::<IngestQuery>::from_query(query)
        .map_err(|e| Error::bad_input("query", format!("cannot be read: {e}")))?;
    let brand_id = query
        .brand_id
        .as_deref()
        .map(|id| graphql::node::parse_id(id).ok_or_else(|| Error::bad_input("brandId", "is not a valid id")))
        .transpose()?;
    let body = std::str::from_utf8(body).map_err(|_| Error::bad_input("body", "must be UTF-8"))?;
    sources::ingest::ingest(&state.services, key, brand_id, body).await
}

/// The HTTP status of a domain error.
fn status_of(error: &Error) -> actix_web::http::StatusCode {
    use actix_web::http::StatusCode;
    match error {
        Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Error::Forbidden(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::BadInput { .. } => StatusCode::BAD_REQUEST,
        Error::Conflict(_) => StatusCode::CONFLICT,
        Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Error::Database(_) | Error::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A domain error as an HTTP response with the same codes as GraphQL.
fn error_response(error: &Error) -> HttpResponse {
    let status = status_of(error);
    let message = if error.is_internal() {
        tracing::error!(error = %error.chain(), "internal error in an HTTP handler");
        "internal server error".to_owned()
    } else {
        error.to_string()
    };
    let mut response = HttpResponse::build(status);
    if let Some(seconds) = retry_after(error) {
        response.insert_header((header::RETRY_AFTER, seconds.to_string()));
    }
    response.json(ErrorBody { error: ErrorDetail { code: error.code().to_owned(), message } })
}

async fn graphiql(state: web::Data<AppState>) -> HttpResponse {
    // GraphiQL is useless without introspection, and both are off in production by default.
    if !state.services.config.introspection {
        return HttpResponse::NotFound().finish();
    }
    crate::graphiql::page()
}

/// `GET /graphiql/{file}`: GraphiQL's code and styles, from the binary.
async fn graphiql_asset(state: web::Data<AppState>, file: web::Path<String>) -> HttpResponse {
    let config = &state.services.config;
    let asset = config.introspection.then(|| crate::graphiql::asset(&file, config.demo)).flatten();
    asset.unwrap_or_else(|| HttpResponse::NotFound().finish())
}

/// The demo's webhook receiver (demo mode only): checks a delivery's signature against
/// the demo endpoint's secrets, as a customer's receiver would. Headers and freshness
/// are checked before anything is read from the database.
async fn demo_receiver(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let services = state.services.clone();
    if !services.config.demo {
        return HttpResponse::NotFound().finish();
    }
    if let Err(refused) = admit_anonymous(&state, &req).await {
        return error_response(&refused);
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let refused = |refusal: demo::receiver::Refusal| {
        HttpResponse::BadRequest().content_type("text/plain").body(refusal.to_string())
    };
    let signed = match demo::receiver::Signed::read(header, chrono::Utc::now().timestamp()) {
        Ok(signed) => signed,
        Err(refusal) => return refused(refusal),
    };
    let url = demo::receiver::url(&services.config.public_url);
    let checked = state
        .run(async move {
            let secrets = demo::receiver::secrets(&services, &url).await?;
            Ok(signed.verify(&body, &secrets))
        })
        .await;
    match checked {
        Ok(Ok(())) => HttpResponse::NoContent().finish(),
        Ok(Err(refusal)) => refused(refusal),
        Err(e) => error_response(&e),
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness: the process answers",
    responses((status = 200, description = "Always `ok`", content_type = "text/plain", body = String)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness: the database and Redis answer",
    responses(
        (status = 200, description = "Ready", body = vigie_domain::platform::health::Readiness),
        (status = 503, description = "A dependency does not answer", body = vigie_domain::platform::health::Readiness),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let services = state.services.clone();
    let readiness = match state.run(async move { Ok(health::readiness(&services).await) }).await {
        Ok(readiness) => readiness,
        // The work could not even be started (the process is stopping): not ready.
        Err(_) => health::Readiness::down(),
    };
    if readiness.ready {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    summary = "The OpenAPI document of these routes",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)),
)]
async fn openapi_json() -> HttpResponse {
    static DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(crate::openapi::document);
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT.as_str())
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render(&state.services))
}
