//! Where the admin socket lives, and the checks on a path before the
//! server starts.
//!
//! The default path is in a directory only the server's user can enter:
//! `/run/faxnotify/admin.sock` for root, `$XDG_RUNTIME_DIR/faxnotify/admin.sock`
//! for everyone else. In a shared directory such as `/tmp`, any local user
//! could bind the path while the server is down and receive what `notify`
//! sends (issue 17, case 5); in a private one nobody else can.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use nix::unistd::geteuid;

/// The socket's name in the default directory.
pub const SOCKET_NAME: &str = "admin.sock";
/// The longest path a Unix socket can be bound at (`sun_path` holds 108
/// bytes with the terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;
/// What the safe creation adds to the directory's path for the socket it
/// binds first (`/.fx-<12 hex digits>/s`, see `server::bind_private`).
pub const CREATION_EXTRA: usize = 19;

/// The default admin socket path for this user.
pub fn default_path() -> Result<PathBuf, String> {
    Ok(default_dir()?.join(SOCKET_NAME))
}

fn default_dir() -> Result<PathBuf, String> {
    if geteuid().is_root() {
        return Ok(PathBuf::from("/run/faxnotify"));
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => Ok(Path::new(&dir).join("faxnotify")),
        _ => Err(
            "there is no default admin socket path: XDG_RUNTIME_DIR (the login \
                  session's private directory) is not set; give --admin-socket PATH, \
                  in a directory only you can write to"
                .to_owned(),
        ),
    }
}

/// Creates the default directory (mode 0700) if it is missing, and
/// refuses one that other users could enter or write to, saying why.
pub fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    let meta = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => return Ok(()),
                // Someone made it meanwhile: check theirs.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::symlink_metadata(dir).map_err(|e| format!("cannot check {shown}: {e}"))?
                }
                Err(e) => return Err(format!("cannot create the directory {shown}: {e}")),
            }
        }
        Err(e) => return Err(format!("cannot check {shown}: {e}")),
    };
    let me = geteuid().as_raw();
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{shown} is a symbolic link: the admin socket's directory must be a private \
             directory of its own; remove the link, and the server creates the directory"
        ));
    }
    if !meta.is_dir() {
        return Err(format!(
            "{shown} is not a directory: remove it, and the server creates the directory"
        ));
    }
    if meta.uid() != me {
        return Err(format!(
            "{shown} belongs to uid {}, not to you (uid {me}): another user could reach \
             the admin socket in it; remove it, and the server creates its own",
            meta.uid()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown} has mode {mode:03o}: other users could reach the admin socket in it; \
             run `chmod 700 {shown}`"
        ));
    }
    Ok(())
}

/// Checks a socket path before anything starts: short enough for a Unix
/// socket and in an existing directory.
pub fn validate(path: &Path) -> Result<(), String> {
    let shown = path.display();
    if path.file_name().is_none() {
        return Err(format!("{shown} names no file for the admin socket"));
    }
    let dir = parent(path);
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(format!(
            "the admin socket path {shown} is {len} bytes long; a Unix socket path can \
             have at most {MAX_SOCKET_PATH}: choose a shorter path"
        ));
    }
    let dir_len = dir.as_os_str().len();
    if dir_len + CREATION_EXTRA > MAX_SOCKET_PATH {
        return Err(format!(
            "the admin socket's directory {} is {dir_len} bytes long; the server creates \
             the socket safely inside it first, which needs a directory path of at most \
             {} bytes: choose a shorter path",
            dir.display(),
            MAX_SOCKET_PATH - CREATION_EXTRA
        ));
    }
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "{} is not a directory, so the admin socket {shown} cannot be created in it",
            dir.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(format!(
            "the directory {} does not exist, so the admin socket {shown} cannot be created",
            dir.display()
        )),
        Err(e) => Err(format!("cannot check the directory {}: {e}", dir.display())),
    }
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Whether users other than the owner may create files in `dir` (so that
/// one could take the socket's path while the server is down).
pub fn others_can_write(dir: &Path) -> bool {
    fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o022 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_too_long_or_in_no_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(validate(&dir.path().join("a.sock")), Ok(()));
        let long = dir.path().join("x".repeat(120));
        assert!(validate(&long).unwrap_err().contains("at most 107"));
        // The path fits, but not the safe creation inside its directory.
        let base = dir.path().as_os_str().len();
        let deep = dir.path().join("d".repeat(97 - base)).join("a.sock");
        assert!(deep.as_os_str().len() <= MAX_SOCKET_PATH);
        let err = validate(&deep).unwrap_err();
        assert!(
            err.contains("directory") && err.contains("at most 88"),
            "{err}"
        );
        let missing = dir.path().join("nowhere").join("a.sock");
        assert!(validate(&missing).unwrap_err().contains("does not exist"));
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        let err = validate(&file.join("a.sock")).unwrap_err();
        assert!(err.contains("is not a directory"), "{err}");
    }

    #[test]
    fn the_directory_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("faxnotify");
        assert_eq!(ensure_private_dir(&private), Ok(()));
        let mode = fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Once made, it is accepted again.
        assert_eq!(ensure_private_dir(&private), Ok(()));
        fs::set_permissions(&private, fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_private_dir(&private).unwrap_err();
        assert!(
            err.contains("has mode 755") && err.contains("chmod 700"),
            "{err}"
        );
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert!(
            ensure_private_dir(&link)
                .unwrap_err()
                .contains("symbolic link")
        );
        let file = dir.path().join("file");
        fs::write(&file, "").unwrap();
        assert!(
            ensure_private_dir(&file)
                .unwrap_err()
                .contains("not a directory")
        );
    }
}
