//! Pagination streams: every record of a cursor-paginated list operation, page after page.
//!
//! Why: a list operation that answers one page and a cursor makes every caller write the
//! same loop (send, collect, read the cursor, stop on the last page, keep the other
//! parameters), and get its edge cases wrong: an empty cursor, a server that answers the
//! same cursor again. `cargo xtask codegen` finds such operations (a `cursor` query
//! parameter, an answer with `records` and `pageInfo.nextCursor`, or the fields an
//! `x-sdk-pagination` extension names) and gives their request builders a `.stream()`
//! built on [`stream`]; it lists them at the top of the generated file.
//!
//! The stream is lazy (no request before the first poll), sends one request at a time, and
//! ends after the last page, or after yielding the first error.
//!
//! ```
//! use futures_util::StreamExt;
//! use sdk_runtime::pagination::{Page, stream};
//!
//! // A stand-in for a generated builder: which page to ask for.
//! #[derive(Clone)]
//! struct Ask(Option<String>);
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let records = stream(
//!     Ask(None),
//!     |_, cursor| Ask(Some(cursor)),
//!     |ask: Ask| async move {
//!         // The server: three records per page, two pages.
//!         let (records, next) = match ask.0.as_deref() {
//!             None => (vec![1, 2, 3], serde_json::json!({"nextCursor": "p2", "hasNextPage": true})),
//!             Some(_) => (vec![4, 5], serde_json::json!({"nextCursor": null, "hasNextPage": false})),
//!         };
//!         Ok::<_, progenitor_client::Error<()>>(Page::new(records, &next, "nextCursor", Some("hasNextPage")))
//!     },
//! );
//! let all: Vec<i32> = records.map(|r| r.unwrap()).collect().await;
//! assert_eq!(all, [1, 2, 3, 4, 5]);
//! # });
//! ```

use std::collections::VecDeque;
use std::future::Future;

use futures_core::Stream;
use progenitor_client::Error;

/// One page of a list: its records and the cursor of the next page, if there is one.
///
/// ```
/// use sdk_runtime::pagination::Page;
/// let info = serde_json::json!({"nextCursor": "abc", "hasNextPage": false});
/// // `hasNextPage: false` wins over a cursor.
/// assert_eq!(Page::new(vec![1], &info, "nextCursor", Some("hasNextPage")).next_cursor, None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The records of this page, in order.
    pub records: Vec<T>,
    /// The cursor to ask for the next page with; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page whose next cursor is read from its page information `info` (the answer's
    /// `pageInfo`, as JSON) under the wire names `next_cursor` and, when the document has
    /// one, `has_next_page`: there is a next page only when the cursor is a non-empty
    /// string and `has_next_page` is not `false`.
    ///
    /// ```
    /// use sdk_runtime::pagination::Page;
    /// for info in [
    ///     serde_json::json!({"nextCursor": null, "hasNextPage": true}),
    ///     serde_json::json!({"nextCursor": "", "hasNextPage": true}),
    ///     serde_json::json!(null),
    /// ] {
    ///     assert_eq!(Page::new(Vec::<u8>::new(), &info, "nextCursor", Some("hasNextPage")).next_cursor, None);
    /// }
    /// ```
    pub fn new(
        records: Vec<T>,
        info: &serde_json::Value,
        next_cursor: &str,
        has_next_page: Option<&str>,
    ) -> Self {
        let more = has_next_page
            .and_then(|field| info.get(field))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        let cursor = info
            .get(next_cursor)
            .and_then(serde_json::Value::as_str)
            .filter(|c| more && !c.is_empty())
            .map(str::to_owned);
        Page {
            records,
            next_cursor: cursor,
        }
    }
}

/// Every record of every page: sends `first`, then `set_cursor(first, cursor)` for each
/// next cursor, until a page has none. `fetch` sends one request and reads its page.
///
/// An error is yielded as an item and ends the stream. A server that answers a cursor it
/// was just asked with would loop forever: that is an error too
/// (`Error::Custom` naming the cursor).
///
/// ```
/// use futures_util::StreamExt;
/// use sdk_runtime::pagination::{Page, stream};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // A server that keeps answering the cursor it was given.
/// let mut records = stream((), |(), _| (), |()| async {
///     Ok::<_, progenitor_client::Error<()>>(Page::new(vec![7], &serde_json::json!({"nextCursor": "same"}), "nextCursor", None))
/// });
/// assert_eq!(records.next().await.unwrap().unwrap(), 7);
/// assert_eq!(records.next().await.unwrap().unwrap(), 7);
/// let error = records.next().await.unwrap().unwrap_err();
/// assert!(error.to_string().contains("same"), "{error}");
/// assert!(records.next().await.is_none());
/// # });
/// ```
pub fn stream<'a, B, T, E, F, Fut>(
    first: B,
    set_cursor: fn(B, String) -> B,
    fetch: F,
) -> impl Stream<Item = Result<T, Error<E>>> + Unpin + 'a
where
    B: Clone + 'a,
    T: 'a,
    E: 'a,
    F: Fn(B) -> Fut + 'a,
    Fut: Future<Output = Result<Page<T>, Error<E>>> + 'a,
{
    struct State<B, T, E> {
        next: Option<B>,
        asked: Option<String>,
        buffered: VecDeque<T>,
        // Yielded once the records before it are.
        error: Option<Error<E>>,
    }
    let state = State {
        next: Some(first),
        asked: None,
        buffered: VecDeque::new(),
        error: None,
    };
    Box::pin(futures_util::stream::unfold(
        (state, fetch),
        move |(mut state, fetch)| async move {
            loop {
                if let Some(record) = state.buffered.pop_front() {
                    return Some((Ok(record), (state, fetch)));
                }
                if let Some(error) = state.error.take() {
                    return Some((Err(error), (state, fetch)));
                }
                let request = state.next.take()?;
                match fetch(request.clone()).await {
                    Err(e) => return Some((Err(e), (state, fetch))),
                    Ok(page) => {
                        state.buffered.extend(page.records);
                        match page.next_cursor {
                            Some(cursor) if state.asked.as_deref() == Some(cursor.as_str()) => {
                                state.error = Some(Error::Custom(format!(
                                    "pagination: the server answered the cursor {cursor:?} it was asked with; stopping instead of asking again"
                                )));
                            }
                            Some(cursor) => {
                                state.asked = Some(cursor.clone());
                                state.next = Some(set_cursor(request, cursor));
                            }
                            None => {}
                        }
                    }
                }
            }
        },
    ))
}
