//! Whether a file every client on a host relies on could be changed by a
//! user other than root and the one running.
//!
//! The client settings name the server a client logs in to and how its
//! certificate is verified. Whoever can change them can send every user's
//! login to a server of their own with TLS off, and SCRAM's client proof,
//! which that server then holds, is enough to guess weak passwords offline.

use std::fs;
use std::path::Path;

/// Why `path`, or the directory it is in, could be changed by a user other
/// than root and this one, in words; `None` when it could not (or cannot
/// be checked: not Unix, or the file cannot be read, which its reader says).
pub fn changeable_by_others(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let me = nix::unistd::geteuid().as_raw();
        let file = fs::canonicalize(path).ok()?;
        let meta = fs::metadata(&file).ok()?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.uid() != 0 && meta.uid() != me {
            return Some(format!("it belongs to another user (uid {})", meta.uid()));
        }
        if mode & 0o022 != 0 {
            return Some(format!(
                "other users may write to it (mode {:03o})",
                mode & 0o777
            ));
        }
        let dir = file.parent()?;
        let meta = fs::metadata(dir).ok()?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.uid() != 0 && meta.uid() != me {
            return Some(format!(
                "its directory {} belongs to another user (uid {}), who may replace it",
                dir.display(),
                meta.uid()
            ));
        }
        // A sticky directory (/tmp) lets others add files, never replace ours.
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Some(format!(
                "other users may replace it: its directory {} has mode {:03o}",
                dir.display(),
                mode & 0o777
            ));
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
