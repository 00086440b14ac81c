//! Reloading the users file and the TLS certificate when they change, on
//! a thread of their own.
//!
//! File I/O must never run on the thread that drains the runtime's events:
//! a slow disk, a huge file or a FIFO put in the file's place would stop
//! the draining, and a runtime whose events are not taken stops reading
//! the network. This thread may wait; the server does not.
//!
//! A change is a change of the file's *contents* (a SHA-256 of what was
//! read), not of its size and modification time: an edit of the same size
//! whose modification time was set back, or a replacement within the file
//! system's timestamp granularity, is still seen. Reading at most
//! [`MAX_FILE_BYTES`](faxnotify_users::MAX_FILE_BYTES) every period costs
//! little, and never on the event thread.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::runtime::ServerControl;
use crate::tls::files::TlsFiles;
use crate::user_store::SharedUsers;
use crate::users_file::{UsersFile, UsersFileError, read_text};

/// What a check found.
#[derive(Debug)]
pub enum Change {
    /// New contents that parse.
    Reloaded(UsersFile),
    /// New contents (or a new error) that do not: keep the old users.
    Failed(UsersFileError),
}

/// The last version of the file seen, to tell a change.
#[derive(Debug)]
pub struct Watch {
    path: PathBuf,
    /// The hash of the contents, or the text of the error, last seen.
    last: Result<[u8; 32], String>,
}

impl Watch {
    /// Starts watching from the version in `text` (what the server loaded).
    pub fn new(path: PathBuf, text: &str) -> Self {
        Self {
            path,
            last: Ok(Sha256::digest(text.as_bytes()).into()),
        }
    }

    /// Reads the file; reports a change of its contents (or of why it
    /// cannot be read, so a broken file is reported once, not every time).
    pub fn check(&mut self) -> Option<Change> {
        let seen = read_text(&self.path).map(|text| (Sha256::digest(text.as_bytes()).into(), text));
        match seen {
            Ok((hash, _)) if self.last == Ok(hash) => None,
            Ok((hash, text)) => {
                self.last = Ok(hash);
                Some(match UsersFile::parse(&text, &self.path) {
                    Ok(file) => Change::Reloaded(file),
                    Err(e) => Change::Failed(e),
                })
            }
            Err(e) => {
                let text = e.to_string();
                if self.last.as_ref().err() == Some(&text) {
                    return None;
                }
                self.last = Err(text);
                Some(Change::Failed(e))
            }
        }
    }
}

/// The reload thread; stops when dropped.
#[derive(Debug)]
pub struct Reloader {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reloader {
    /// Checks the users file every `every` and replaces `users` when its
    /// contents change (a file that does not parse keeps the old users,
    /// with a warning that names the line but never quotes the file); with
    /// `tls`, checks the certificate and key files too and hands a new
    /// identity to the server (a pair that does not load keeps the old
    /// certificate, with a warning saying why).
    pub fn start(
        mut watch: Watch,
        users: SharedUsers,
        mut tls: Option<(TlsFiles, ServerControl)>,
        every: Duration,
    ) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    match watch.check() {
                        None => {}
                        Some(Change::Reloaded(file)) => {
                            let count = file.len();
                            users.replace(file.into_users());
                            tracing::info!("users file reloaded: {count} users");
                        }
                        Some(Change::Failed(e)) => {
                            tracing::warn!("users file not reloaded (keeping the old users): {e}")
                        }
                    }
                    if let Some((files, server)) = &mut tls {
                        files.reload(&**server);
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Reloader {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write as _;

    use faxnotify_core::wire::Role;

    use super::*;

    fn users_text(password: &str) -> String {
        let mut file = UsersFile::new().unwrap();
        file.add("alice", password, Role::User, false).unwrap();
        file.render()
    }

    /// An edit in place of the same size, with the modification time set
    /// back, is a change (size + mtime alone miss it; so may the change
    /// time within its granularity).
    #[test]
    fn a_same_size_edit_with_the_old_mtime_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let old = users_text("one");
        let new = users_text("two");
        assert_eq!(old.len(), new.len());
        std::fs::write(&path, &old).unwrap();
        let mut watch = Watch::new(path.clone(), &old);
        assert!(watch.check().is_none(), "unchanged");
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut file = OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all(new.as_bytes()).unwrap();
        file.set_modified(mtime).unwrap();
        drop(file);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.len(), meta.modified().unwrap()),
            (old.len() as u64, mtime)
        );
        match watch.check() {
            Some(Change::Reloaded(file)) => assert_eq!(file.len(), 1),
            other => panic!("expected a reload, got {other:?}"),
        }
        assert!(watch.check().is_none(), "reported once");
    }

    /// A broken file (or a FIFO in its place) is reported once, not at
    /// every check; a repaired one is reloaded.
    #[test]
    fn a_broken_file_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let good = users_text("one");
        std::fs::write(&path, &good).unwrap();
        let mut watch = Watch::new(path.clone(), &good);
        std::fs::write(&path, "version = \n").unwrap();
        assert!(matches!(watch.check(), Some(Change::Failed(_))));
        assert!(watch.check().is_none());
        std::fs::write(&path, &good).unwrap();
        assert!(matches!(watch.check(), Some(Change::Reloaded(_))));
    }
}
