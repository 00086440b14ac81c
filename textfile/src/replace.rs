//! Writing a configuration file so that a reader sees the old file or the
//! new one, never a torn one, and so that an edit does not change who may
//! read it.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// Why [`replace`] changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplaceError {
    /// Writing, flushing or renaming failed.
    #[error("{}", crate::IoReason(.0))]
    Io(#[source] io::Error),
    /// The new file could not be given the owner and group of the one it
    /// replaces.
    #[error(
        "cannot give the new file the owner of the one it replaces (uid {uid}, gid {gid}): {}; \
         nothing was changed (run this as root or as that owner)",
        crate::IoReason(.source)
    )]
    KeepOwner {
        /// The replaced file's owner.
        uid: u32,
        /// The replaced file's group.
        gid: u32,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

impl From<io::Error> for ReplaceError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Replaces the file at `path` with `contents`: written to a new file of
/// mode `mode` (Unix; a stricter umask still applies) in the same
/// directory, flushed to disk, renamed over `path`, and the directory
/// flushed, so that a reader (or a crash) sees the old file or the new
/// one, never a torn one or none. A symbolic link at `path` is replaced,
/// never written through; a caller that means to write through one
/// resolves it first.
/// A file replaced keeps its owner and group (Unix): `sudo faxnotify …` on
/// the file of a service that runs as its own user must not hand it to
/// root, which that service could then no longer read. When that cannot
/// be done (not root, and the file belongs to another user) nothing is
/// written ([`ReplaceError::KeepOwner`]).
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> Result<(), ReplaceError> {
    let Some(file_name) = path.file_name() else {
        return Err(io::Error::other("the path names no file").into());
    };
    // The owner of a regular file there; a symbolic link's target is not
    // asked (one planted where a certificate goes, pointing at a file of
    // root's, must not make the new file root's): the link is replaced.
    #[cfg(unix)]
    let owner = {
        use std::os::unix::fs::MetadataExt as _;
        fs::symlink_metadata(path)
            .ok()
            .filter(fs::Metadata::is_file)
            .map(|m| (m.uid(), m.gid()))
    };
    let dir = parent_dir(path);
    let mut tmp_name = OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let _ = fs::remove_file(&tmp); // left over by a crash of this very pid
    let result = (|| -> Result<(), ReplaceError> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        if let Some((uid, gid)) = owner {
            keep_owner(&file, uid, gid)?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(&dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Gives the new file `file` the owner and group of the file it replaces,
/// unless it has them already (so that a user saving their own file needs
/// no privilege).
#[cfg(unix)]
fn keep_owner(file: &File, uid: u32, gid: u32) -> Result<(), ReplaceError> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = file.metadata()?;
    if (meta.uid(), meta.gid()) == (uid, gid) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(uid), Some(gid))
        .map_err(|source| ReplaceError::KeepOwner { uid, gid, source })
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_mode_and_the_contents_and_no_temporary_is_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users");
        replace(&path, b"one\n", 0o600).expect("written");
        replace(&path, b"two\n", 0o600).expect("replaced");
        assert_eq!(fs::read(&path).expect("read"), b"two\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(
            names,
            vec![OsString::from("users")],
            "a temporary file was left"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_in_the_files_place_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep me").expect("victim");
        let path = dir.path().join("cert.pem");
        std::os::unix::fs::symlink(&victim, &path).expect("link");
        replace(&path, b"certificate", 0o644).expect("written");
        assert_eq!(fs::read(&victim).expect("read"), b"keep me");
        assert!(fs::symlink_metadata(&path).expect("meta").is_file());
        assert_eq!(fs::read(&path).expect("read"), b"certificate");
    }

    #[test]
    fn a_failed_write_changes_nothing_and_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("no such directory").join("settings");
        let err = replace(&missing, b"x", 0o644).expect_err("no directory");
        assert!(matches!(err, ReplaceError::Io(_)), "{err}");
        assert!(!err.to_string().contains("os error"), "{err}");
        let err = replace(Path::new("/"), b"x", 0o644).expect_err("no file name");
        assert!(err.to_string().contains("names no file"), "{err}");
    }
}
