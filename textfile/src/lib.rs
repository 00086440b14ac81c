//! # faxnotify-textfile
//!
//! Reading a configuration file that someone else may have put in place:
//! the users file, the client's settings, the HylaFAX bridge's
//! configuration, a notification's text file. A FIFO in its place must not
//! hang the reader, a device (`/dev/zero`) or a huge file must not fill the
//! memory, and text that is not UTF-8 is refused with where it goes wrong.
//! Every faxnotify crate that reads such a file reads it here, so they all
//! refuse the same things with the same words; and writes it here
//! ([`replace`]): atomically, keeping the owner of the file it replaces.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

mod replace;

pub use replace::{ReplaceError, parent_dir, replace};

/// Why [`read_bounded`] read nothing. The messages follow the file's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoundedReadError {
    /// The file does not exist.
    #[error("does not exist")]
    Missing,
    /// The path names a FIFO, a device or a directory, not a regular file.
    #[error("is not a regular file (a FIFO, a device or a directory): not read")]
    NotAFile,
    /// The file is larger than the bound.
    #[error("is larger than {} KiB: not read", .max >> 10)]
    TooLarge {
        /// The bound, in bytes.
        max: u64,
    },
    /// Opening or reading failed.
    #[error("{}", IoReason(.0))]
    Io(#[source] io::Error),
}

impl BoundedReadError {
    /// The whole sentence for a person: `what` ("password file") at
    /// `path`, and why it was not read.
    pub fn describe(&self, what: &str, path: &Path) -> String {
        let path = path.display();
        match self {
            Self::Missing => format!("cannot read the {what} {path}: it does not exist"),
            Self::Io(e) => format!("cannot read the {what} {path}: {}", IoReason(e)),
            other => format!("the {what} {path} {other}"),
        }
    }
}

/// An I/O error in words for the person who must fix it, after a file's
/// (or a directory's) name: what the operating system said, without Rust's
/// `(os error N)`, and for a refused access what to look at, since the
/// usual cause is a file owned by another user than the one running.
#[derive(Debug, Clone, Copy)]
pub struct IoReason<'a>(pub &'a io::Error);

impl std::fmt::Display for IoReason<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.kind() == io::ErrorKind::PermissionDenied {
            return f.write_str(
                "permission denied: the user this runs as may not use it; look at its owner \
                 and mode (and its directory's) with `ls -l`, and run as that owner or change them",
            );
        }
        let text = self.0.to_string();
        // "No such file or directory (os error 2)": the words, lower case.
        let words = match text.rfind(" (os error ") {
            Some(at) if text.ends_with(')') => &text[..at],
            _ => &text,
        };
        let mut chars = words.chars();
        match chars.next() {
            Some(first) => write!(f, "{}{}", first.to_lowercase(), chars.as_str()),
            None => Ok(()),
        }
    }
}

/// Reads a regular file of at most `max` bytes, opened without blocking:
/// a FIFO put in its place must not hang the reader, and a device
/// (`/dev/zero`) or a huge file must not fill the memory.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, BoundedReadError> {
    use std::io::Read as _;
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Opening a FIFO for reading would wait for a writer.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BoundedReadError::Missing),
        Err(e) => return Err(BoundedReadError::Io(e)),
    };
    let meta = file.metadata().map_err(BoundedReadError::Io)?;
    if !meta.is_file() {
        return Err(BoundedReadError::NotAFile);
    }
    if meta.len() > max {
        return Err(BoundedReadError::TooLarge { max });
    }
    // The file may grow between the check and the read: read one byte more
    // than allowed at most, to tell.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(BoundedReadError::TooLarge { max });
    }
    Ok(bytes)
}

/// Bytes that are not UTF-8 text: where the first invalid one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not UTF-8 text (an invalid byte at offset {offset})")]
pub struct NotUtf8 {
    /// The offset of the first byte that is not valid UTF-8.
    pub offset: usize,
}

/// `bytes` (a file read with [`read_bounded`], say) as text.
pub fn utf8_text(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn text_that_is_not_utf8_says_where_it_stops_being_so() {
        assert_eq!(utf8_text(b"caf\xc3\xa9".to_vec()).as_deref(), Ok("café"));
        let err = utf8_text(b"M\xfcller".to_vec()).unwrap_err();
        assert_eq!(err, NotUtf8 { offset: 1 });
        assert_eq!(
            err.to_string(),
            "not UTF-8 text (an invalid byte at offset 1)"
        );
    }

    #[test]
    fn a_regular_file_within_the_bound_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_bounded(&path, 10).unwrap(), b"0123456789");
        let err = read_bounded(&path, 9).unwrap_err();
        assert!(
            matches!(err, BoundedReadError::TooLarge { max: 9 }),
            "{err}"
        );
    }

    #[test]
    fn what_is_not_a_regular_file_is_refused_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bounded(&dir.path().join("absent"), 10),
            Err(BoundedReadError::Missing)
        ));
        assert!(matches!(
            read_bounded(dir.path(), 10),
            Err(BoundedReadError::NotAFile)
        ));
        #[cfg(unix)]
        {
            // A FIFO with no writer: a blocking open would wait for ever.
            let fifo = dir.path().join("fifo");
            let made = std::process::Command::new("mkfifo").arg(&fifo).status();
            assert!(made.unwrap().success(), "mkfifo failed");
            assert!(matches!(
                read_bounded(&fifo, 10),
                Err(BoundedReadError::NotAFile)
            ));
            assert!(matches!(
                read_bounded(Path::new("/dev/zero"), 10),
                Err(BoundedReadError::NotAFile)
            ));
        }
    }

    #[test]
    fn io_errors_read_as_words_and_a_refused_access_says_what_to_look_at() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            IoReason(&denied).to_string(),
            "permission denied: the user this runs as may not use it; look at its owner and mode \
             (and its directory's) with `ls -l`, and run as that owner or change them"
        );
        let missing = io::Error::from_raw_os_error(2);
        assert_eq!(IoReason(&missing).to_string(), "no such file or directory");
        let custom = io::Error::other("Disk quota (exceeded)");
        assert_eq!(IoReason(&custom).to_string(), "disk quota (exceeded)");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Root reads any file: only another user sees the refusal.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("users.toml");
            fs::write(&path, b"x").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
            if let Err(e @ BoundedReadError::Io(_)) = read_bounded(&path, 10) {
                assert!(
                    e.describe("users file", &path)
                        .contains(": permission denied: the user"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn refusals_read_as_sentences_after_the_files_name() {
        let path = Path::new("/etc/faxnotify/users.toml");
        assert_eq!(
            BoundedReadError::TooLarge { max: 64 << 10 }.describe("users file", path),
            "the users file /etc/faxnotify/users.toml is larger than 64 KiB: not read"
        );
        assert_eq!(
            BoundedReadError::Missing.describe("users file", path),
            "cannot read the users file /etc/faxnotify/users.toml: it does not exist"
        );
    }
}
