//! Keyset pagination over UUIDv7 ids: pages are stable under inserts and cost the same
//! at any depth (no OFFSET).

use sea_orm::sea_query::Condition;
use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QueryTrait, Select, SelectModel, SelectorTrait,
    Value,
};
use uuid::Uuid;

use crate::{Error, Result};

/// The default page size.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;

/// A validated request for one page.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// Validates `first` (1..=100, default 20).
    pub fn new(first: Option<i32>, after: Option<Uuid>) -> Result<Self> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if n >= 1 && n as u64 <= MAX_PAGE_SIZE => n as u64,
            Some(_) => {
                return Err(Error::bad_input("first", format!("must be between 1 and {MAX_PAGE_SIZE}")));
            }
        };
        Ok(PageRequest { first, after })
    }
}

/// One page of results.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
}

impl<T> Page<T> {
    /// Maps the items, keeping the page information.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), has_next_page: self.has_next_page }
    }
}

/// Fetches the page of `select` after the cursor, ordered by `id` in `direction` (ids
/// are UUIDv7, so `Descending` is newest first).
pub(crate) async fn fetch<E, C>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    id: C,
    direction: Direction,
    request: PageRequest,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let select = match (direction, request.after) {
        (Direction::Ascending, None) => select.order_by_asc(id),
        (Direction::Ascending, Some(after)) => select.order_by_asc(id).filter(id.gt(after)),
        (Direction::Descending, None) => select.order_by_desc(id),
        (Direction::Descending, Some(after)) => select.order_by_desc(id).filter(id.lt(after)),
    };
    read::<SelectModel<E::Model>>(db, select.into_query(), request).await
}

/// Which way a keyset on (key, id) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// Fetches the page of `select` ordered by (`key`, `id`) in `direction`, after the row
/// whose key and id are `after` (read by the caller from its cursor).
pub(crate) async fn fetch_by_key<E, K, I, V>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    key: (K, I),
    direction: Direction,
    after: Option<(V, Uuid)>,
    request: PageRequest,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    K: ColumnTrait,
    I: ColumnTrait,
    V: Into<Value> + Clone,
{
    read::<SelectModel<E::Model>>(db, by_key(select, key, direction, after).into_query(), request).await
}

/// The most partitions [`fetch_merged_by_key`] merges in one statement: each brings its
/// parameters, and SQLite takes at most 500 terms in a union. Past it, callers read
/// with one filter and one sort.
pub const MAX_MERGED: usize = 100;

/// [`fetch_by_key`] over the union of `selects` (one per brand, say): each reads its
/// own page from its own index, and one statement merges them, so a list across many
/// brands never sorts every row of every brand.
pub(crate) async fn fetch_merged_by_key<E, K, I, V>(
    db: &impl ConnectionTrait,
    selects: Vec<Select<E>>,
    key: (K, I),
    direction: Direction,
    after: Option<(V, Uuid)>,
    request: PageRequest,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    K: ColumnTrait,
    I: ColumnTrait,
    V: Into<Value> + Clone,
{
    use sea_orm::sea_query::{Alias, Asterisk, Expr, Order, Query, UnionType};
    let mut branches = selects.into_iter().enumerate().map(|(i, select)| {
        let mut branch = by_key(select, key, direction, after.clone()).into_query();
        branch.limit(request.first + 1);
        Query::select().column(Asterisk).from_subquery(branch, Alias::new(format!("part{i}"))).to_owned()
    });
    let Some(mut union) = branches.next() else { return Ok(Page { items: Vec::new(), has_next_page: false }) };
    for branch in branches {
        union.union(UnionType::All, branch);
    }
    let order = match direction {
        Direction::Ascending => Order::Asc,
        Direction::Descending => Order::Desc,
    };
    let merged = Query::select()
        .column(Asterisk)
        .from_subquery(union, Alias::new("merged"))
        .order_by_expr(Expr::col(Alias::new(key.0.as_str())), order.clone())
        .order_by_expr(Expr::col(Alias::new(key.1.as_str())), order)
        .to_owned();
    read::<SelectModel<E::Model>>(db, merged, request).await
}

/// Orders `select` by (`key`, `id`) in `direction` and keeps the rows after the one
/// whose key and id are `after`; for callers that read more than the entity (a join)
/// before [`read`]. Ties on the key are broken by id, so no row is skipped or repeated
/// between pages.
pub(crate) fn by_key<E, K, I, V>(
    select: Select<E>,
    (key, id): (K, I),
    direction: Direction,
    after: Option<(V, Uuid)>,
) -> Select<E>
where
    E: EntityTrait,
    K: ColumnTrait,
    I: ColumnTrait,
    V: Into<Value> + Clone,
{
    let mut select = select;
    if let Some((last_key, last_id)) = after {
        let (past_key, past_id) = match direction {
            Direction::Ascending => (key.gt(last_key.clone()), id.gt(last_id)),
            Direction::Descending => (key.lt(last_key.clone()), id.lt(last_id)),
        };
        select = select.filter(Condition::any().add(past_key).add(Condition::all().add(key.eq(last_key)).add(past_id)));
    }
    match direction {
        Direction::Ascending => select.order_by_asc(key).order_by_asc(id),
        Direction::Descending => select.order_by_desc(key).order_by_desc(id),
    }
}

/// Reads one page of `query` (filtered and ordered, with no limit of its own), decoded
/// by `S`: `first` rows, and one more that only says whether another page follows.
/// The limit is written into the SQL text (see [`crate::platform::db::read_limited`]); page
/// sizes are few (1 to 101 rows), and so are the statements' texts.
pub(crate) async fn read<S: SelectorTrait>(
    db: &impl ConnectionTrait,
    query: SelectStatement,
    request: PageRequest,
) -> Result<Page<S::Item>> {
    Ok(page_of(crate::platform::db::read_limited::<S>(db, query, request.first + 1).await?, request))
}

/// The row a cursor names, read with `select` (which keeps it to the caller's list), or
/// `BAD_USER_INPUT` on `after` when that row is gone; `what` names it in the message.
pub(crate) async fn cursor_row<E: EntityTrait>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    what: &str,
) -> Result<E::Model> {
    crate::platform::db::first(db, select)
        .await?
        .ok_or_else(|| Error::bad_input("after", format!("this cursor's {what} no longer exists")))
}

/// Turns the rows of a query limited to `first + 1` into a page: the extra row, if any,
/// only says that another page follows.
fn page_of<T>(mut items: Vec<T>, request: PageRequest) -> Page<T> {
    let has_next_page = items.len() as u64 > request.first;
    items.truncate(request.first as usize);
    Page { items, has_next_page }
}
