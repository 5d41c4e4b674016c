//! Relay connections over the domain's keyset pages, with opaque cursors.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{ID, OutputType};
use base64::Engine;
use uuid::Uuid;
use vigie_domain::platform::pagination::{Page, PageRequest};
use vigie_domain::{Error, Result};

const PREFIX: &str = "vigie:1:";

/// An opaque cursor: the position after which the next page starts.
pub struct Cursor(pub Uuid);

fn bad_cursor() -> Error {
    Error::bad_input("after", "not a cursor returned by this API")
}

/// What a cursor of this API says after its `prefix`.
fn cursor_text(cursor: &str, prefix: &str) -> Result<String> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let text = String::from_utf8(raw).map_err(|_| bad_cursor())?;
    text.strip_prefix(prefix).map(str::to_owned).ok_or_else(bad_cursor)
}

impl CursorType for Cursor {
    type Error = Error;

    fn decode_cursor(s: &str) -> Result<Self> {
        Uuid::parse_str(&cursor_text(s, PREFIX)?).map(Cursor).map_err(|_| bad_cursor())
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
        let text = cursor_text(s, MENTION_PREFIX)?;
        let (micros, id) = text.split_once(':').ok_or_else(bad_cursor)?;
        let published_at =
            micros.parse::<i64>().ok().and_then(chrono::DateTime::from_timestamp_micros).ok_or_else(bad_cursor)?;
        let id = Uuid::parse_str(id).map_err(|_| bad_cursor())?;
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
    use vigie_domain::platform::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
    let first = first.map_or(DEFAULT_PAGE_SIZE, |n| u64::try_from(n).unwrap_or(1).clamp(1, MAX_PAGE_SIZE)) as usize;
    first.saturating_mul(child).saturating_add(1)
}
