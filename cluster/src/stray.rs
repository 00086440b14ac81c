//! Notifications on log subjects that no session reads.
//!
//! The log stream stores every subject under `faxnotify.n.>`, but a user's
//! sessions read only `faxnotify.n.<lowercase hex of the prepared name>`.
//! A fax engine that publishes on another subject (the name itself,
//! upper-case hex, a spelling a login would prepare differently, a subject
//! with more tokens) gets JetStream's acknowledgement, and then nobody ever
//! reads what it published. A stream's subjects cannot say "lowercase hex
//! of a prepared name", so the store cannot refuse them; instead the
//! cluster's sweeper lists the log's subjects once a sweep and says what it
//! found (`node/index_sweep.rs`), so that what was accepted is not lost in
//! silence.

use std::fmt;

// A subject is whatever its publisher chose: escaped before it is logged.
use faxnotify_core::peer_text::escaped;

use crate::connect::Bus;
use crate::error::BusError;
use crate::subjects::{Names, user_token};

const LISTING: &str = "listing the log's subjects";

/// How many stray subjects a [`StrayReport`] names.
pub const STRAY_EXAMPLES: usize = 8;

/// Notifications stored under log subjects that no session reads
/// ([`Bus::stray_log_subjects`]).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct StrayReport {
    /// How many such subjects the log holds.
    pub subjects: usize,
    /// How many messages they hold between them.
    pub messages: u64,
    /// The first [`STRAY_EXAMPLES`] of them, in the listing's order.
    pub examples: Vec<StraySubject>,
}

/// One log subject that no session reads.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct StraySubject {
    /// The subject, as stored.
    pub subject: String,
    /// How many messages it holds.
    pub messages: u64,
    /// The subject its publisher most likely meant: the user's, when the
    /// first token after `faxnotify.n.` is a user name, or hex of one in
    /// any case.
    pub meant: Option<String>,
}

impl Bus {
    /// The log's subjects that no session reads, with how many messages
    /// each holds: one listing of the log's subjects (paged, each page
    /// within the operation bound).
    pub async fn stray_log_subjects(&self) -> Result<StrayReport, BusError> {
        let inner = &self.inner;
        let bound = inner.config.timeouts.operation;
        let info = inner
            .link
            .within(
                LISTING,
                bound,
                inner.log.info_with_subjects(inner.names.log_subjects()),
            )
            .await?
            .map_err(|err| inner.link.failed(LISTING, &err, None))?;
        let mut report = StrayReport::default();
        let prefix = inner.names.log_prefix();
        inner
            .link
            .drain_within(LISTING, bound, info, |(subject, messages)| {
                report.add(&inner.names, &prefix, subject, messages as u64);
            })
            .await?;
        Ok(report)
    }
}

impl StrayReport {
    /// Counts `subject` (holding `messages`) if no session reads it;
    /// `prefix` is `names.log_prefix()`, made once per listing.
    fn add(&mut self, names: &Names, prefix: &str, subject: String, messages: u64) {
        let Some(rest) = subject.strip_prefix(prefix) else {
            return;
        };
        if is_user_token(rest) {
            return;
        }
        self.subjects += 1;
        self.messages += messages;
        if self.examples.len() < STRAY_EXAMPLES {
            let meant = meant_subject(names, rest).filter(|meant| *meant != subject);
            self.examples.push(StraySubject {
                subject,
                messages,
                meant,
            });
        }
    }
}

/// Whether `token` is a user's log token: [`user_token`] of the name it
/// is the hex of (lowercase hex of a name already prepared).
fn is_user_token(token: &str) -> bool {
    hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .is_some_and(|name| user_token(&name).is_ok_and(|own| own == token))
}

/// The subject meant by whoever published on `faxnotify.n.<rest>`: the
/// first token read as hex of a name (in either case), or else as the
/// name itself.
fn meant_subject(names: &Names, rest: &str) -> Option<String> {
    let token = rest.split('.').next()?;
    let from_hex = hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let name = from_hex.as_deref().unwrap_or(token);
    names.log_subject(name).ok()
}

impl fmt::Display for StrayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {} of the log will never be delivered, as no session reads them (a user's \
             subject ends in the lowercase hex of the prepared user name: see the README's cluster mode section)",
            counted(self.messages, "message"),
            counted(self.subjects as u64, "subject"),
        )?;
        for (i, stray) in self.examples.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(
                f,
                "{sep}{} ({}",
                escaped(&stray.subject),
                counted(stray.messages, "message")
            )?;
            if let Some(meant) = &stray.meant {
                write!(f, ", perhaps meant for {meant}")?;
            }
            f.write_str(")")?;
        }
        if self.subjects > self.examples.len() {
            write!(f, "; and {} more", self.subjects - self.examples.len())?;
        }
        Ok(())
    }
}

/// "1 message", "3 messages".
fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BusConfig;

    fn names() -> Names {
        Names::new(&BusConfig::new(vec!["nats://127.0.0.1:4222".into()]))
    }

    fn report(subjects: &[(&str, u64)]) -> StrayReport {
        let names = names();
        let prefix = names.log_prefix();
        let mut report = StrayReport::default();
        for (subject, messages) in subjects {
            report.add(&names, &prefix, (*subject).to_owned(), *messages);
        }
        report
    }

    #[test]
    fn a_users_own_subject_is_not_stray() {
        let names = names();
        let alice = names.log_subject("alice").unwrap();
        let accented = names.log_subject("Zoë").unwrap();
        assert_eq!(
            report(&[(&alice, 5), (&accented, 2)]),
            StrayReport::default()
        );
    }

    #[test]
    fn every_other_spelling_is_stray_and_says_what_was_meant() {
        let alice = names().log_subject("alice").unwrap();
        let got = report(&[
            ("faxnotify.n.alice", 2),
            ("faxnotify.n.616C696365", 1),
            // "Alice": a login prepares it to "alice".
            ("faxnotify.n.416c696365", 3),
            ("faxnotify.n.616c696365.extra", 1),
            ("faxnotify.n.zz", 1),
            ("faxnotify.n.\u{1b}[2K", 1),
        ]);
        assert_eq!((got.subjects, got.messages), (6, 9));
        let meant: Vec<_> = got.examples.iter().map(|s| s.meant.as_deref()).collect();
        let zz = names().log_subject("zz").unwrap();
        assert_eq!(
            meant,
            [
                Some(&*alice),
                Some(&*alice),
                Some(&*alice),
                Some(&*alice),
                Some(&*zz),
                None
            ]
        );
        let text = got.to_string();
        assert!(
            text.starts_with("9 messages on 6 subjects of the log will never be delivered"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "faxnotify.n.alice (2 messages, perhaps meant for {alice})"
            )),
            "{text}"
        );
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains("faxnotify.n.\\u{1b}[2K (1 message)"),
            "{text}"
        );
    }

    proptest::proptest! {
        /// Whatever a user is called, the subject a login's sessions read
        /// is never reported stray; any other spelling that prepares to
        /// the same name is, and says which subject was meant.
        #[test]
        fn a_users_subject_is_never_stray_and_other_spellings_are(name in "\\PC{1,24}") {
            let names = names();
            if let Ok(subject) = names.log_subject(&name) {
                let own = report(&[(&subject, 1)]);
                proptest::prop_assert_eq!(own.subjects, 0, "{}", subject);
                let other = format!("faxnotify.n.{}", hex::encode(name.as_bytes()).to_uppercase());
                if other != subject {
                    let stray = report(&[(&other, 1)]);
                    proptest::prop_assert_eq!(stray.subjects, 1);
                    proptest::prop_assert_eq!(stray.examples[0].meant.as_deref(), Some(&*subject));
                }
            }
        }

        /// Any subject at all is counted or not without a panic, and its
        /// line shows no character that could rewrite a log.
        #[test]
        fn any_subject_is_handled_and_shown_inert(rest in "\\PC*|[\\x00-\\x7f]{0,40}") {
            let got = report(&[(&format!("faxnotify.n.{rest}"), 2)]);
            let text = got.to_string();
            proptest::prop_assert!(!text.chars().any(faxnotify_core::peer_text::is_unsafe), "{}", text);
        }
    }

    #[test]
    fn a_report_names_a_bounded_number_of_subjects() {
        let subjects: Vec<(String, u64)> = (0..20)
            .map(|i| (format!("faxnotify.n.user{i}"), 1))
            .collect();
        let borrowed: Vec<(&str, u64)> = subjects.iter().map(|(s, n)| (s.as_str(), *n)).collect();
        let got = report(&borrowed);
        assert_eq!((got.subjects, got.examples.len()), (20, STRAY_EXAMPLES));
        assert!(got.to_string().ends_with("; and 12 more"), "{got}");
    }
}
