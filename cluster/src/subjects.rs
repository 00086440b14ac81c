//! Subject and asset names: where each kind of message lives on the bus.

use faxnotify_core::auth::prepare_username;

use crate::config::BusConfig;
use crate::ids::ServerId;

/// The longest prepared user name, in bytes (as FNP/1's LOGIN allows).
const MAX_USER_LEN: usize = 255;

/// A user name that has no log subject.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// Not a valid user name (RFC 8265 UsernameCaseMapped).
    #[error("{name:?} is not a valid user name: {reason}")]
    Invalid {
        /// The name as given.
        name: String,
        /// Why it cannot be prepared.
        reason: String,
    },
    /// Longer than 255 bytes once prepared.
    #[error("the user name is {len} bytes long once prepared; at most 255 are allowed")]
    TooLong {
        /// Its prepared length.
        len: usize,
    },
}

/// The subject token of `user`: lowercase hex of the user's prepared
/// (SASLprep'd, RFC 8265) UTF-8 bytes.
///
/// Hex keeps any user name a single subject token (no `.`, `*`, `>` or
/// spaces), and preparing first makes every spelling a login accepts map
/// to the one subject the user's sessions read. At most 510 characters.
pub fn user_token(user: &str) -> Result<String, UserError> {
    Ok(hex::encode(prepared_user(user)?.as_bytes()))
}

/// `user` prepared (RFC 8265 UsernameCaseMapped), as a login prepares it
/// and as session records hold it: every spelling a login accepts gives
/// the one name.
pub(crate) fn prepared_user(user: &str) -> Result<String, UserError> {
    let prepared = prepare_username(user).map_err(|err| UserError::Invalid {
        name: user.to_owned(),
        reason: err.to_string(),
    })?;
    if prepared.len() > MAX_USER_LEN {
        return Err(UserError::TooLong {
            len: prepared.len(),
        });
    }
    Ok(prepared)
}

/// The names of one cluster's streams, bucket and subjects.
#[derive(Clone, Debug)]
pub(crate) struct Names {
    prefix: String,
    /// The log stream (`FAXNOTIFY_LOG`).
    pub log_stream: String,
    /// The reports stream (`FAXNOTIFY_REPORTS`).
    pub reports_stream: String,
    /// The session bucket (`FAXNOTIFY_SESSIONS`).
    pub sessions_bucket: String,
}

impl Names {
    pub(crate) fn new(config: &BusConfig) -> Self {
        let stem = config.stem();
        Self {
            prefix: config.prefix.clone(),
            log_stream: format!("{stem}_LOG"),
            reports_stream: format!("{stem}_REPORTS"),
            sessions_bucket: format!("{stem}_SESSIONS"),
        }
    }

    /// Every notification subject (`faxnotify.n.>`).
    pub(crate) fn log_subjects(&self) -> String {
        format!("{}.n.>", self.prefix)
    }

    /// What every notification subject begins with (`faxnotify.n.`).
    pub(crate) fn log_prefix(&self) -> String {
        format!("{}.n.", self.prefix)
    }

    /// One user's notification subject.
    pub(crate) fn log_subject(&self, user: &str) -> Result<String, UserError> {
        Ok(format!("{}.n.{}", self.prefix, user_token(user)?))
    }

    /// Where the log stream republishes what it stored (`faxnotify.tn.>`),
    /// for readers to follow live.
    pub(crate) fn log_tails(&self) -> String {
        format!("{}.tn.>", self.prefix)
    }

    /// Where one user's stored notifications are republished.
    pub(crate) fn log_tail(&self, user: &str) -> Result<String, UserError> {
        Ok(format!("{}.tn.{}", self.prefix, user_token(user)?))
    }

    /// Where the reports stream republishes (`faxnotify.tr.>`).
    pub(crate) fn reports_tails(&self) -> String {
        format!("{}.tr.>", self.prefix)
    }

    /// Where one origin's stored reports are republished.
    pub(crate) fn report_tail(&self, origin: ServerId) -> String {
        format!("{}.tr.{origin}", self.prefix)
    }

    /// Every report subject (`faxnotify.r.>`).
    pub(crate) fn reports_subjects(&self) -> String {
        format!("{}.r.>", self.prefix)
    }

    /// The reports for one origin server.
    pub(crate) fn report_subject(&self, origin: ServerId) -> String {
        format!("{}.r.{origin}", self.prefix)
    }
}

/// The bucket key of a session: 16 lowercase hex digits.
pub(crate) fn session_key(session: u64) -> String {
    format!("{session:016x}")
}

/// The bucket key of a session's index entry: `u.<tag>.s<session key>`,
/// `tag` the user's [`ClusterSecret::user_tag`](crate::ClusterSecret), so
/// that one user's entries share a prefix a subject filter lists.
pub(crate) fn index_key(tag: &str, session: u64) -> String {
    format!(
        "{INDEX_PREFIX}.{tag}.{INDEX_SESSION}{}",
        session_key(session)
    )
}

/// Every index entry of the user whose tag is `tag` (a subject filter
/// under the bucket's `$KV.<bucket>.`).
pub(crate) fn index_keys(tag: &str) -> String {
    format!("{}*", index_prefix(tag))
}

/// What every index key of the user whose tag is `tag` begins with.
pub(crate) fn index_prefix(tag: &str) -> String {
    format!("{INDEX_PREFIX}.{tag}.")
}

/// The session an index entry's subject (or key) names, if it is one.
pub(crate) fn indexed_session(subject: &str) -> Option<u64> {
    let last = subject.rsplit('.').next()?.strip_prefix(INDEX_SESSION)?;
    // `from_str_radix` also takes a sign.
    if last.len() != 16 || !last.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(last, 16).ok()
}

/// The session whose record `key` (a key of the bucket, without the
/// `$KV.<bucket>.` of its subject) is, if it is a record's key: exactly 16
/// lowercase hex digits ([`session_key`]), one token.
pub(crate) fn record_session(key: &str) -> Option<u64> {
    if key.len() != 16 || !key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(key, 16).ok()
}

/// The first token of index keys: never 16 hex digits, so no session's
/// record key.
const INDEX_PREFIX: &str = "u";
/// Before the session id in an index key: servers of the previous version
/// took the last token of every key in the bucket for a session id, and
/// would count a session twice while versions are mixed.
const INDEX_SESSION: &str = "s";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_token_is_the_hex_of_the_prepared_name() {
        assert_eq!(user_token("alice").unwrap(), "616c696365");
        // Case-mapped: both spellings read one subject.
        assert_eq!(user_token("Alice").unwrap(), user_token("alice").unwrap());
        // Non-ASCII stays one token.
        assert_eq!(user_token("zoë").unwrap(), "7a6fc3ab");
        assert!(matches!(
            user_token("bob smith"),
            Err(UserError::Invalid { .. })
        ));
        let long = "a".repeat(256);
        assert_eq!(user_token(&long), Err(UserError::TooLong { len: 256 }));
        assert_eq!(user_token(&"a".repeat(255)).unwrap().len(), 510);
    }

    #[test]
    fn names_follow_the_prefix() {
        let mut config = BusConfig::new(vec!["nats://127.0.0.1:4222".into()]);
        let names = Names::new(&config);
        assert_eq!(names.log_stream, "FAXNOTIFY_LOG");
        assert_eq!(names.sessions_bucket, "FAXNOTIFY_SESSIONS");
        assert_eq!(names.reports_stream, "FAXNOTIFY_REPORTS");
        assert_eq!(names.log_subject("bob").unwrap(), "faxnotify.n.626f62");
        assert_eq!(
            names.report_subject(ServerId(0xab)),
            "faxnotify.r.00000000000000ab"
        );
        config.prefix = "site-b".into();
        let names = Names::new(&config);
        assert_eq!(names.log_stream, "SITE-B_LOG");
        assert_eq!(names.log_subjects(), "site-b.n.>");
        assert_eq!(session_key(0x1f), "000000000000001f");
        assert_eq!(index_key("ab12", 0x1f), "u.ab12.s000000000000001f");
        assert_eq!(index_keys("ab12"), "u.ab12.*");
        assert_eq!(
            indexed_session("$KV.B.u.ab12.s000000000000001f"),
            Some(0x1f)
        );
        // A record's key, or a key someone else put there: no entry.
        assert_eq!(indexed_session("$KV.B.000000000000001f"), None);
        assert_eq!(record_session("000000000000001f"), Some(0x1f));
        assert_eq!(record_session(&session_key(u64::MAX)), Some(u64::MAX));
        for not_a_record in [
            "u.ab12.s000000000000001f",
            "000000000000001F",
            "+00000000000001f",
            "00000000000001f",
            "0000000000000001f",
            "upgrade",
        ] {
            assert_eq!(record_session(not_a_record), None, "{not_a_record}");
        }
        assert_eq!(indexed_session("$KV.B.u.ab12.s1f"), None);
        assert_eq!(indexed_session("$KV.B.u.ab12.s+00000000000001f"), None);
    }
}
