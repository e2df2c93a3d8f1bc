//! What Blob and ADLS Gen2 listings share: walking an account's containers
//! (each, then its entries), and **listing marks**, where a listing can be
//! picked up again at one of its pages.
//!
//! Neither API can start a listing at a name: a page continues only from
//! a server-given token (Blob's `marker`, List Paths' `continuation`). So a
//! work unit that listed its slice "from `start`" read the whole container
//! before it. The planner keeps, with each unit, the mark of the page its
//! first object was on (`[container, prefix, token]` as JSON), and the unit
//! lists from that page.

use crate::host::bindings::storage::ObjectMeta;
use crate::storage::{Listing, PathOrder, StorageError};
use std::sync::Arc;

/// One container's lazy pages of a listing.
pub(super) trait Pages: Iterator<Item = Result<ObjectMeta, StorageError>> + Send + Sized + 'static {
    /// Fetches the next page (the first, or the one at the token given).
    fn fetch(&mut self) -> Result<(), StorageError>;
    fn started(&self) -> bool;
    /// `(container, prefix, token)` of the page the last entry came from.
    fn place(&self) -> (&str, &str, Option<&str>);
    /// Where the mark of the current page is kept once made.
    fn mark_cache(&mut self) -> &mut Option<Arc<str>>;

    fn mark(&mut self) -> Arc<str> {
        if let Some(mark) = self.mark_cache() {
            return mark.clone();
        }
        let mark: Arc<str> = serde_json::to_string(&self.place()).expect("strings serialize").into();
        *self.mark_cache() = Some(mark.clone());
        mark
    }
}

/// A listing mark, parsed.
pub(super) struct Mark {
    pub container: String,
    pub prefix: String,
    pub token: Option<String>,
}

impl Mark {
    pub fn parse(mark: &str) -> Option<Mark> {
        let (container, prefix, token) = serde_json::from_str(mark).ok()?;
        Some(Mark { container, prefix, token })
    }
}

/// Opens a container's pages: `(container, token to start at)`.
pub(super) type Open<P> = Box<dyn Fn(&str, Option<String>) -> P + Send>;

/// A recursive listing of the whole account: each container, then its entries.
pub(super) struct AccountWalk<P: Pages> {
    containers: std::vec::IntoIter<ObjectMeta>,
    current: Option<P>,
    open: Open<P>,
    /// The first container's listing starts at this token.
    resume: Option<String>,
}

impl<P: Pages> AccountWalk<P> {
    pub fn new(containers: Vec<ObjectMeta>, resume: Option<String>, open: Open<P>) -> Self {
        AccountWalk { containers: containers.into_iter(), current: None, open, resume }
    }
}

impl<P: Pages> Iterator for AccountWalk<P> {
    type Item = Result<ObjectMeta, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(item) = self.current.as_mut().and_then(Iterator::next) {
            return Some(item);
        }
        let container = self.containers.next()?;
        self.current = Some((self.open)(&container.path, self.resume.take()));
        Some(Ok(container))
    }
}

/// A container's listing, each entry with the mark of its page.
pub(super) struct MarkedPages<P>(pub P);

impl<P: Pages> Iterator for MarkedPages<P> {
    type Item = Result<(ObjectMeta, Option<Arc<str>>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.0.next()?;
        Some(item.map(|o| (o, Some(self.0.mark()))))
    }
}

/// The account's listing, each entry with the mark of its page (none for
/// a container's own entry, which comes before its first page).
pub(super) struct MarkedWalk<P: Pages>(pub AccountWalk<P>);

impl<P: Pages> Iterator for MarkedWalk<P> {
    type Item = Result<(ObjectMeta, Option<Arc<str>>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.0.next()?;
        let mark = self.0.current.as_mut().filter(|p| p.started()).map(Pages::mark);
        Some(item.map(|o| (o, mark)))
    }
}

/// The listing of `(container, prefix)` (`container` empty: the account,
/// whose containers `containers` gives) from the page `mark` names, from
/// `start` on; `None` when the mark is for another listing or its token is
/// refused, and the caller lists from the start.
pub(super) fn resume<P: Pages>(
    mark: Mark,
    container: &str,
    prefix: &str,
    start: &str,
    containers: impl FnOnce() -> Result<Vec<ObjectMeta>, StorageError>,
    open: Open<P>,
) -> Option<Result<Listing, StorageError>> {
    let listing: Listing = if container.is_empty() {
        let from: Vec<ObjectMeta> = match containers() {
            Ok(all) => all.into_iter().filter(|c| c.path >= mark.container).collect(),
            Err(e) => return Some(Err(e)),
        };
        if !mark.prefix.is_empty() || from.first().is_none_or(|c| c.path != mark.container) {
            return None;
        }
        Box::new(AccountWalk::new(from, mark.token, open))
    } else {
        if (container, prefix) != (mark.container.as_str(), mark.prefix.as_str()) {
            return None;
        }
        let mut pages = open(container, mark.token);
        pages.fetch().ok()?;
        Box::new(pages)
    };
    let start = start.to_string();
    Some(Ok(Box::new(listing.skip_while(move |item| {
        item.as_ref().is_ok_and(|o| PathOrder::ContainerFirst.compare(&o.path, &start) == std::cmp::Ordering::Less)
    }))))
}
