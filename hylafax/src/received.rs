//! The received faxes the bridge reported, and whether HylaFAX still has
//! them. HylaFAX's event stream says nothing when a received fax leaves its
//! receive queue (deleted by a user through hfaxd, or by `faxcron`'s
//! clean-up); hfaxd's `recvq` listing shows it. A fax reported as received
//! that is missing from a later listing is a change every client holding it
//! can act on: FAX_UPDATED "deleted", to the users it was reported to.
//!
//! The listing is asked for every [`LIST_EVERY_MS`] while such faxes are
//! followed (HylaFAX has no event for it to wait on instead).

use std::collections::{BTreeMap, BTreeSet};

use crate::lines::{Line, LineSplitter};

/// The `RCVFMT` set before `LIST recvq`: the file name only.
pub const RECV_FORMAT: &str = "%f";
/// How often the receive queue is listed while faxes are followed.
pub const LIST_EVERY_MS: u64 = 5_000;
/// Received faxes followed; the oldest are forgotten first.
pub const MAX_FAXES: usize = 4096;
/// The longest file name taken from HylaFAX (`fax000000001.tif`).
const MAX_FILE: usize = 64;

/// One reported fax.
#[derive(Debug)]
struct Fax {
    commid: u64,
    users: Vec<String>,
    /// The first listing that can show it (asked for after it was reported).
    first_listing: u64,
}

/// A fax no longer in HylaFAX's receive queue.
#[derive(Debug, PartialEq, Eq)]
pub struct Gone {
    /// Its communication id (the FAX_RECEIVED job number).
    pub commid: u64,
    /// The users it was reported to.
    pub users: Vec<String>,
}

/// The followed faxes, by file name, and the listings asked for.
#[derive(Debug, Default)]
pub struct ReceivedFaxes {
    faxes: BTreeMap<String, Fax>,
    /// File names in the order they were reported (for forgetting).
    order: BTreeMap<u64, String>,
    added: u64,
    issued: u64,
    in_flight: bool,
    next_ms: Option<u64>,
}

impl ReceivedFaxes {
    /// Follows the fax in `file` (a name or a `recvq/` path), reported to `users`.
    pub fn add(&mut self, now_ms: u64, file: &str, commid: u64, users: Vec<String>) {
        let Some(name) = file_name(file.as_bytes()) else {
            return;
        };
        if self.faxes.is_empty() {
            // The first fax followed (again): its listing is due a period from now.
            self.next_ms = Some(now_ms + LIST_EVERY_MS);
        }
        if self.faxes.len() >= MAX_FAXES
            && let Some((_, oldest)) = self.order.pop_first()
        {
            self.faxes.remove(&oldest);
        }
        self.added += 1;
        self.order.insert(self.added, name.clone());
        let first_listing = self.issued + 1;
        self.faxes.insert(
            name,
            Fax {
                commid,
                users,
                first_listing,
            },
        );
    }

    /// When the next listing is due, if any fax is followed.
    pub fn next_listing_ms(&self) -> Option<u64> {
        self.next_ms.filter(|_| !self.faxes.is_empty())
    }

    /// Whether a listing is due at `now_ms` (and, if so, that it is asked for).
    pub fn listing_due(&mut self, now_ms: u64) -> bool {
        if self.in_flight || self.next_listing_ms().is_none_or(|at| now_ms < at) {
            return false;
        }
        self.in_flight = true;
        self.issued += 1;
        self.next_ms = Some(now_ms + LIST_EVERY_MS);
        true
    }

    /// The listing could not be made: it is asked for again when due.
    pub fn listing_failed(&mut self) {
        self.in_flight = false;
    }

    /// The `LIST recvq` answer: the followed faxes it no longer shows.
    pub fn handle_listing(&mut self, data: &[u8]) -> Vec<Gone> {
        self.in_flight = false;
        let mut listed = BTreeSet::new();
        let mut splitter = LineSplitter::new();
        splitter.push(data);
        splitter.push(b"\n");
        while let Some(line) = splitter.next_line() {
            if let Line::Text(text) = line
                && let Some(name) = file_name(&text)
            {
                listed.insert(name);
            }
        }
        let gone: Vec<String> = self
            .faxes
            .iter()
            .filter(|(name, fax)| fax.first_listing <= self.issued && !listed.contains(*name))
            .map(|(name, _)| name.clone())
            .collect();
        self.order.retain(|_, name| !gone.contains(name));
        gone.into_iter()
            .filter_map(|name| self.faxes.remove(&name))
            .map(|fax| Gone {
                commid: fax.commid,
                users: fax.users,
            })
            .collect()
    }
}

/// The file name of a `recvq` entry (`fax000000001.tif` or
/// `recvq/fax000000001.tif`), if it looks like one HylaFAX makes.
fn file_name(text: &[u8]) -> Option<String> {
    let text = text.trim_ascii();
    let name = text.strip_prefix(b"recvq/").unwrap_or(text);
    let ok = !name.is_empty()
        && name.len() <= MAX_FILE
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| String::from_utf8_lossy(name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(u: &str) -> Vec<String> {
        vec![u.to_owned()]
    }

    #[test]
    fn a_fax_missing_from_a_later_listing_is_gone_once() {
        let mut faxes = ReceivedFaxes::default();
        assert_eq!(faxes.next_listing_ms(), None);
        faxes.add(1000, "recvq/fax000000001.tif", 2, users("bob"));
        faxes.add(1000, "fax000000002.tif", 4, users("carol"));
        assert!(!faxes.listing_due(1000 + LIST_EVERY_MS - 1));
        assert!(faxes.listing_due(1000 + LIST_EVERY_MS));
        // One listing at a time.
        assert!(!faxes.listing_due(1000 + 3 * LIST_EVERY_MS));
        let gone = faxes.handle_listing(b"fax000000001.tif\r\nfax000000002.tif\r\n");
        assert!(gone.is_empty());
        assert!(faxes.listing_due(1000 + 2 * LIST_EVERY_MS));
        let gone = faxes.handle_listing(b"fax000000002.tif\r\n");
        assert_eq!(
            gone,
            [Gone {
                commid: 2,
                users: users("bob")
            }]
        );
        assert!(faxes.listing_due(1000 + 3 * LIST_EVERY_MS));
        assert_eq!(faxes.handle_listing(b"fax000000002.tif\r\n"), []);
        assert!(faxes.listing_due(1000 + 4 * LIST_EVERY_MS));
        assert_eq!(faxes.handle_listing(b"").len(), 1);
        // Nothing left to follow: no more listings.
        assert_eq!(faxes.next_listing_ms(), None);
        assert!(!faxes.listing_due(1000 + 9 * LIST_EVERY_MS));
    }

    #[test]
    fn a_listing_asked_for_before_a_fax_arrived_does_not_count() {
        let mut faxes = ReceivedFaxes::default();
        faxes.add(0, "fax000000001.tif", 2, users("bob"));
        assert!(faxes.listing_due(LIST_EVERY_MS));
        // Reported while that listing was being made: it cannot be in it.
        faxes.add(LIST_EVERY_MS, "fax000000002.tif", 4, users("bob"));
        assert_eq!(faxes.handle_listing(b"fax000000001.tif\n"), []);
    }

    #[test]
    fn a_failed_listing_is_asked_for_again() {
        let mut faxes = ReceivedFaxes::default();
        faxes.add(0, "fax000000001.tif", 2, users("bob"));
        assert!(faxes.listing_due(LIST_EVERY_MS));
        faxes.listing_failed();
        assert!(faxes.listing_due(2 * LIST_EVERY_MS));
    }

    #[test]
    fn hostile_names_are_not_followed() {
        let mut faxes = ReceivedFaxes::default();
        for bad in ["", "../etc/passwd", "fax\u{1b}[2J.tif", &"x".repeat(65)] {
            faxes.add(0, bad, 1, users("bob"));
        }
        assert_eq!(faxes.next_listing_ms(), None);
    }

    #[test]
    fn the_oldest_fax_is_forgotten_when_full() {
        let mut faxes = ReceivedFaxes::default();
        for i in 0..=MAX_FAXES as u64 {
            faxes.add(0, &format!("fax{i:09}.tif"), i, users("bob"));
        }
        assert!(faxes.listing_due(LIST_EVERY_MS));
        let gone = faxes.handle_listing(b"");
        assert_eq!(gone.len(), MAX_FAXES);
        assert!(gone.iter().all(|g| g.commid != 0));
    }
}
