//! Parsed queries kept by their text.
//!
//! Front-ends send the same few documents again and again (a dashboard asked by every
//! open browser, with only the variables changing), and async-graphql's parser is
//! costly: on the dashboard benchmark it was about 6 % of the api's CPU. The parser's
//! output depends on the text alone, so a copy of the kept document serves the next
//! request with the same text. Validation still runs on every request: its outcome
//! depends on the variables (the complexity of `first: $n`, the variables' types).
//!
//! The cache is bounded both in entries and in the bytes of text it keeps, so that
//! clients sending ever-different queries only push out the least recently used ones.
//!
//! It also keeps the texts of automatic persisted queries by their SHA-256 (Apollo's
//! protocol: `extensions.persistedQuery { version: 1, sha256Hash }`), shared between
//! replicas through Redis when there is one ([`PersistedQueries`]).

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, Value};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use vigie_domain::platform::persisted_queries::PersistedQueries;
use vigie_domain::sha256_hex;

/// Most documents kept.
const MAX_ENTRIES: NonZeroUsize = NonZeroUsize::new(512).expect("non-zero");
/// Most bytes of query text kept; a parsed document takes several times its text.
const MAX_BYTES: usize = 1 << 20;
/// Longer queries are parsed each time, so one query cannot take the whole cache.
const MAX_QUERY_BYTES: usize = 32 << 10;
/// Longest persisted query shared through Redis (front-ends' queries are a few KiB).
const MAX_SHARED_BYTES: usize = 8 << 10;

/// Code of a persisted query's hash this server does not know: the client sends the
/// query's text with it again.
pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";

/// The documents most recently parsed, by query text, and the persisted queries' texts
/// by hash.
pub struct Documents {
    kept: Mutex<Kept>,
    persisted: Mutex<Bounded<Arc<str>>>,
}

type Kept = Bounded<Arc<ExecutableDocument>>;

/// A least-recently-used map by text bounded in entries and in the bytes of its keys
/// and texts.
struct Bounded<V> {
    documents: LruCache<String, (V, usize)>,
    bytes: usize,
}

impl<V> Bounded<V> {
    fn new() -> Self {
        Bounded { documents: LruCache::new(MAX_ENTRIES), bytes: 0 }
    }

    fn get(&mut self, key: &str) -> Option<&V> {
        self.documents.get(key).map(|(value, _)| value)
    }

    /// Keeps `value` under `key`, counting `bytes` for it, and pushes out the least
    /// recently used entries past the bounds.
    fn keep(&mut self, key: String, value: V, bytes: usize) {
        self.bytes += bytes;
        // `push` hands back what it replaced (the same key, kept concurrently) or
        // evicted (the least recently used, the map being full).
        if let Some((_, (_, old))) = self.documents.push(key, (value, bytes)) {
            self.bytes -= old;
        }
        while self.bytes > MAX_BYTES {
            let Some((_, (_, old))) = self.documents.pop_lru() else { break };
            self.bytes -= old;
        }
    }
}

impl Default for Documents {
    fn default() -> Self {
        Documents { kept: Mutex::new(Bounded::new()), persisted: Mutex::new(Bounded::new()) }
    }
}

/// What a request's `extensions.persistedQuery` asks.
enum Persisted {
    /// Run the query registered under this hash.
    Lookup(String),
    /// Run the request's text (its hash checked), then register it.
    Register,
}

impl Documents {
    /// Gives `request` its parsed document as [`Documents::parse`] does, after
    /// resolving an automatic persisted query: a hash alone is replaced by the text
    /// registered under it (here or, through `shared`, by another replica), or refused
    /// with [`PERSISTED_QUERY_NOT_FOUND`]. `true` when the request sends a hash with its
    /// text, to be registered once it has run ([`Documents::register`]).
    pub async fn resolve(&self, request: &mut Request, shared: &PersistedQueries) -> Result<bool, ServerError> {
        match persisted(request)? {
            None => self.parse(request).map(|()| false),
            Some(Persisted::Register) => self.parse(request).map(|()| true),
            Some(Persisted::Lookup(hash)) => {
                let local = lock(&self.persisted).get(&hash).cloned();
                let text = match local {
                    Some(text) => text.to_string(),
                    None => {
                        let text = shared.get(&hash).await.ok_or_else(not_found)?;
                        // Another replica checked it, but the store is not this process's.
                        if sha256_hex(&text) != hash {
                            return Err(not_found());
                        }
                        self.remember(&hash, &text);
                        text
                    }
                };
                request.query = text;
                self.parse(request).map(|()| false)
            }
        }
    }

    /// Keeps a persisted query that ran, by its hash, in this process and, when
    /// `share` (the caller was authenticated and it is short enough), in `shared` for the
    /// other replicas. Only queries that validated get here: nothing a client merely
    /// sent takes room in Redis.
    pub async fn register(&self, text: &str, shared: &PersistedQueries, share: bool) {
        if text.len() > MAX_QUERY_BYTES {
            return;
        }
        let hash = sha256_hex(text);
        self.remember(&hash, text);
        if share && text.len() <= MAX_SHARED_BYTES {
            shared.put(&hash, text).await;
        }
    }

    fn remember(&self, hash: &str, text: &str) {
        lock(&self.persisted).keep(hash.to_owned(), Arc::from(text), hash.len() + text.len());
    }

    /// Gives `request` its parsed document: a copy of the one kept for its text, or the
    /// parser's, then kept. A query that does not parse gets the parser's error.
    pub fn parse(&self, request: &mut Request) -> Result<(), ServerError> {
        let cacheable = request.query.len() <= MAX_QUERY_BYTES;
        if cacheable && let Some(document) = self.kept().get(request.query.as_str()).cloned() {
            // Copied out of the lock: the copy allocates, the lookup does not.
            request.set_parsed_query(ExecutableDocument::clone(&document));
            return Ok(());
        }
        let document = request.parsed_query()?;
        if cacheable {
            let document = Arc::new(document.clone());
            self.keep(request.query.clone(), document);
        }
        Ok(())
    }

    fn keep(&self, query: String, document: Arc<ExecutableDocument>) {
        let bytes = query.len();
        self.kept().keep(query, document, bytes);
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        lock(&self.kept)
    }
}

/// The caches hold no invariant a panic could break mid-way: a poisoned lock is still
/// usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn not_found() -> ServerError {
    coded("PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
}

fn coded(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error.extensions.get_or_insert_with(Default::default).set("code", Value::String(code.into()));
    error
}

/// Reads `extensions.persistedQuery`, if the request has one.
fn persisted(request: &Request) -> Result<Option<Persisted>, ServerError> {
    let Some(extension) = request.extensions.get("persistedQuery") else { return Ok(None) };
    let bad = |message: &str| coded(message, "BAD_USER_INPUT");
    let Value::Object(fields) = extension else {
        return Err(bad("extensions.persistedQuery must be an object with `version` and `sha256Hash`"));
    };
    match fields.get("version") {
        Some(Value::Number(version)) if version.as_u64() == Some(1) => {}
        _ => return Err(bad("Unsupported persisted query version: only version 1 is supported")),
    }
    let hash = match fields.get("sha256Hash") {
        Some(Value::String(hash)) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            hash.to_ascii_lowercase()
        }
        _ => return Err(bad("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")),
    };
    if request.query.is_empty() {
        return Ok(Some(Persisted::Lookup(hash)));
    }
    if sha256_hex(&request.query) != hash {
        return Err(bad("provided sha does not match query"));
    }
    Ok(Some(Persisted::Register))
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Documents {
        fn len(&self) -> usize {
            self.kept().documents.len()
        }

        fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    fn query(field: usize) -> String {
        format!("{{ f{field} }}")
    }

    #[test]
    fn a_query_sent_again_gets_the_kept_document() {
        let documents = Documents::default();
        let mut first = Request::new("query Q($n: Int) { a(first: $n) { b } }");
        documents.parse(&mut first).expect("parses");
        assert_eq!(documents.len(), 1);

        let mut again = Request::new("query Q($n: Int) { a(first: $n) { b } }");
        documents.parse(&mut again).expect("parses");
        assert_eq!(documents.len(), 1);
        let (first, again) = (first.parsed_query().expect("set"), again.parsed_query().expect("set"));
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
    }

    fn persisted(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let extension = serde_json::json!({ "version": 1, "sha256Hash": hash });
        request.extensions.insert("persistedQuery".into(), Value::from_json(extension).unwrap());
        request
    }

    #[tokio::test]
    async fn persisted_queries_are_kept_by_hash_without_redis() {
        let (documents, shared) = (Documents::default(), PersistedQueries::local());
        let hash = sha256_hex("{ a }");
        let unknown = documents.resolve(&mut persisted("", &hash), &shared).await.expect_err("unknown");
        assert_eq!(unknown.message, "PersistedQueryNotFound");
        let mut first = persisted("{ a }", &hash);
        assert!(documents.resolve(&mut first, &shared).await.expect("parsed"));
        // Registered only once it has run.
        documents.resolve(&mut persisted("", &hash), &shared).await.expect_err("not yet");
        documents.register(&first.query, &shared, false).await;
        let mut again = persisted("", &hash);
        documents.resolve(&mut again, &shared).await.expect("known");
        assert_eq!(again.query, "{ a }");
        assert!(again.parsed_query().is_ok());
        // Upper-case hex names the same query.
        documents.resolve(&mut persisted("", &hash.to_uppercase()), &shared).await.expect("same hash");
        let mismatch = documents.resolve(&mut persisted("{ b }", &hash), &shared).await.expect_err("not its hash");
        assert_eq!(mismatch.message, "provided sha does not match query");
    }

    #[test]
    fn a_query_that_does_not_parse_is_refused_and_not_kept() {
        let documents = Documents::default();
        let mut broken = Request::new("{ a { b }");
        let error = documents.parse(&mut broken).expect_err("does not parse");
        assert!(!error.message.is_empty());
        assert!(documents.is_empty());
    }

    #[test]
    fn long_queries_are_parsed_but_not_kept() {
        let documents = Documents::default();
        let fields: Vec<String> = (0..MAX_QUERY_BYTES / 8).map(|i| format!("f{i}: a")).collect();
        let mut long = Request::new(format!("{{ {} }}", fields.join(" ")));
        assert!(long.query.len() > MAX_QUERY_BYTES);
        documents.parse(&mut long).expect("parses");
        assert!(long.parsed_query().is_ok());
        assert!(documents.is_empty());
    }

    #[test]
    fn the_cache_stays_within_its_entries_and_bytes() {
        let documents = Documents::default();
        for field in 0..MAX_ENTRIES.get() + 10 {
            documents.parse(&mut Request::new(query(field))).expect("parses");
        }
        assert_eq!(documents.len(), MAX_ENTRIES.get());
        // The oldest went first.
        assert!(documents.kept().documents.peek(query(0).as_str()).is_none());
        assert!(documents.kept().documents.peek(query(MAX_ENTRIES.get() + 9).as_str()).is_some());

        let documents = Documents::default();
        let padding = " ".repeat(MAX_QUERY_BYTES - 16);
        let big = |field: usize| format!("{{ f{field:04} }}{padding}");
        let fits = MAX_BYTES / big(0).len();
        for field in 0..fits + 5 {
            documents.parse(&mut Request::new(big(field))).expect("parses");
        }
        assert_eq!(documents.len(), fits);
        assert!(documents.kept().bytes <= MAX_BYTES);
    }
}
