//! Cursor pagination: `?limit=&cursor=` in, `{"data": [...], "next_cursor"}` out.
//!
//! Ids are UUIDv7, so "after this id" is a stable keyset position that survives inserts
//! and deletes between pages. The cursor is the last id of a page, encoded opaquely so that
//! clients do not build them by hand.

use crate::store::sql_types::Id;
use base64::Engine;
use serde::Serialize;

use crate::error::{Error, Result};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: i64,
    pub after: Option<Id>,
}

impl PageRequest {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(
                decode_cursor(c)
                    .ok_or_else(|| Error::invalid("cursor", "is not a cursor this API returned"))?,
            ),
        };
        Ok(PageRequest { limit, after })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `fetch_limit()` rows ordered by the key `key_of` returns.
    pub fn from_rows(mut rows: Vec<T>, request: &PageRequest, key_of: impl Fn(&T) -> Id) -> Self {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(request.limit as usize);
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(key_of(r)))
        } else {
            None
        };
        Page {
            data: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

pub fn encode_cursor(id: Id) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_uuid().as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<Id> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    uuid::Uuid::from_slice(&bytes).ok().map(Id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = Id::new();
        let req = PageRequest::parse(Some(10), Some(&encode_cursor(id))).unwrap();
        assert_eq!(req.after, Some(id));
        assert!(PageRequest::parse(None, Some("not-a-cursor!")).is_err());
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(MAX_LIMIT + 1), None).is_err());
    }

    #[test]
    fn a_full_fetch_yields_a_next_cursor() {
        let ids: Vec<Id> = (0..4).map(|_| Id::new()).collect();
        let req = PageRequest::parse(Some(3), None).unwrap();
        let page = Page::from_rows(ids.clone(), &req, |id| *id);
        assert_eq!(page.data.len(), 3);
        assert_eq!(page.next_cursor, Some(encode_cursor(ids[2])));
        let last = Page::from_rows(ids[..2].to_vec(), &req, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
