//! Relay connections over the domain's keyset pages, with opaque cursors.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{ID, OutputType};
use base64::Engine;
use uuid::Uuid;
use vigie_domain::pagination::{Page, PageRequest};
use vigie_domain::{Error, Result};

const PREFIX: &str = "vigie:1:";

/// An opaque cursor: the position after which the next page starts.
pub struct Cursor(pub Uuid);

impl CursorType for Cursor {
    type Error = Error;

    fn decode_cursor(s: &str) -> Result<Self> {
        let bad = || Error::bad_input("after", "not a cursor returned by this API");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let id = text.strip_prefix(PREFIX).ok_or_else(bad)?;
        Uuid::parse_str(id).map(Cursor).map_err(|_| bad())
    }

    fn encode_cursor(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{PREFIX}{}", self.0))
    }
}

/// An opaque cursor over mentions: their publication time and id.
pub struct MentionCursor(pub vigie_domain::mentions::MentionCursor);

const MENTION_PREFIX: &str = "vigie:m1:";

impl CursorType for MentionCursor {
    type Error = Error;

    fn decode_cursor(s: &str) -> Result<Self> {
        let bad = || Error::bad_input("after", "not a cursor returned by this API");
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
        let text = String::from_utf8(raw).map_err(|_| bad())?;
        let (micros, id) = text.strip_prefix(MENTION_PREFIX).and_then(|rest| rest.split_once(':')).ok_or_else(bad)?;
        let published_at =
            micros.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_micros).ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(MentionCursor(vigie_domain::mentions::MentionCursor { published_at, id }))
    }

    fn encode_cursor(&self) -> String {
        let text = format!("{MENTION_PREFIX}{}:{}", self.0.published_at.timestamp_micros(), self.0.id);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }
}

/// Validates `first` and decodes `after`.
pub fn request(first: Option<i32>, after: Option<String>) -> Result<PageRequest> {
    let after = after.map(|c| Cursor::decode_cursor(&c)).transpose()?;
    PageRequest::new(first, after.map(|c| c.0))
}

/// Builds a connection from a page; `cursor` gives each node's position.
pub fn connection<T, C: CursorType + Send + Sync, N: OutputType>(
    page: Page<T>,
    had_cursor: bool,
    cursor: impl Fn(&T) -> C,
    node: impl Fn(T) -> N,
) -> Connection<C, N> {
    let mut connection = Connection::new(had_cursor, page.has_next_page);
    connection.edges.extend(page.items.into_iter().map(|item| Edge::new(cursor(&item), node(item))));
    connection
}

/// The database id an ID argument names (a global id or a bare UUID, see
/// [`super::node::parse_id`]).
pub fn uuid(field: &str, id: &ID) -> Result<Uuid> {
    super::node::parse_id(id.as_str()).ok_or_else(|| Error::bad_input(field, "is not a valid id"))
}

/// Complexity of a connection field: its children, `first` times.
pub fn complexity(child: usize, first: Option<i32>) -> usize {
    let first = first.unwrap_or(vigie_domain::pagination::DEFAULT_PAGE_SIZE as i32).clamp(1, 100) as usize;
    first.saturating_mul(child).saturating_add(1)
}
