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

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

/// Most documents kept.
const MAX_ENTRIES: NonZeroUsize = NonZeroUsize::new(512).expect("non-zero");
/// Most bytes of query text kept; a parsed document takes several times its text.
const MAX_BYTES: usize = 1 << 20;
/// Longer queries are parsed each time, so one query cannot take the whole cache.
const MAX_QUERY_BYTES: usize = 32 << 10;

/// The documents most recently parsed, by query text.
pub struct Documents {
    kept: Mutex<Kept>,
}

struct Kept {
    documents: LruCache<String, Arc<ExecutableDocument>>,
    bytes: usize,
}

impl Default for Documents {
    fn default() -> Self {
        Documents { kept: Mutex::new(Kept { documents: LruCache::new(MAX_ENTRIES), bytes: 0 }) }
    }
}

impl Documents {
    /// Gives `request` its parsed document: a copy of the one kept for its text, or the
    /// parser's, then kept. A query that does not parse gets the parser's error.
    pub fn parse(&self, request: &mut Request) -> Result<(), ServerError> {
        let cacheable = request.query.len() <= MAX_QUERY_BYTES;
        if cacheable && let Some(document) = self.kept().documents.get(request.query.as_str()).cloned() {
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
        let mut kept = self.kept();
        kept.bytes += query.len();
        // `push` hands back what it replaced (the same text, parsed concurrently) or
        // evicted (the least recently used, the cache being full).
        if let Some((old, _)) = kept.documents.push(query, document) {
            kept.bytes -= old.len();
        }
        while kept.bytes > MAX_BYTES {
            let Some((old, _)) = kept.documents.pop_lru() else { break };
            kept.bytes -= old.len();
        }
    }

    /// The cache holds no invariant a panic could break mid-way: a poisoned lock is
    /// still usable.
    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
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
