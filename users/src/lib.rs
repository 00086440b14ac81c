//! # faxnotify-users
//!
//! The users file of an FNP/1 server: SCRAM credentials and roles, never
//! passwords, plus the server's secret for unknown users' challenges [A-3]
//! (requirement ids refer to `docs/protocol.md`). `faxnotify user` writes
//! it and `faxnotify server --users` reads it; an application that embeds a
//! server (faxnotify-mio, faxnotify-smol, faxnotify-tokio) loads the same file with
//! [`UsersFile::load`] and serves it with [`UsersFile::to_store`]:
//!
//! ```no_run
//! use faxnotify_core::server::ServerConfig;
//! use faxnotify_users::UsersFile;
//!
//! let users = UsersFile::load("users.toml".as_ref())?;
//! // The secret keeps unknown users' fake challenges stable across restarts.
//! let config = ServerConfig::new(users.secret());
//! let store = users.to_store();
//! # let _ = (config, store);
//! # Ok::<(), faxnotify_users::UsersFileError>(())
//! ```
//!
//! Salts and the secret are drawn from the operating system here, so a
//! caller never supplies its own randomness for credentials
//! ([`UsersFile::add`], [`new_credentials`]). Users made in code, without
//! a file:
//!
//! ```
//! use faxnotify_core::server::{MemoryUserStore, UserStore};
//! use faxnotify_core::wire::Role;
//!
//! let mut store = MemoryUserStore::new();
//! store.insert("Alice", faxnotify_users::new_credentials("correct horse", Role::User)?)?;
//! assert!(store.credentials("alice").is_some()); // stored prepared, as LOGIN carries it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ```toml
//! version = 1
//! unknown_user_secret = "<64 hex digits>"
//!
//! [users.alice]
//! role = "user"
//! iterations = 4096
//! salt = "<32 hex digits>"
//! stored_key = "<64 hex digits>"
//! server_key = "<64 hex digits>"
//! ```
//!
//! User names are stored prepared (RFC 8265 UsernameCaseMapped), exactly as
//! LOGIN carries them. The file is written atomically (a temporary file in
//! the same directory, flushed to disk, renamed over the old one) with mode
//! 0600 (a file replaced keeps its owner and group), and edits hold an
//! advisory lock on the directory so that two `faxnotify user` commands
//! cannot lose each other's change. A users file
//! that is a symbolic link is written through it: the link stays and its
//! target is replaced.
//!
//! Reading is bounded and never blocks: only a regular file of at most
//! [`MAX_FILE_BYTES`] is read (a FIFO or a device is refused), and an error
//! names the line and column but never quotes the file, whose values are
//! secrets.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use faxnotify_core::auth::{
    Credentials, DEFAULT_ITERATIONS, PrepError, ServerKey, StoredKey, prepare_username,
};
use faxnotify_core::server::MemoryUserStore;
use faxnotify_core::wire::Role;
use serde::{Deserialize, Serialize};

use faxnotify_textfile::{
    BoundedReadError, ReplaceError, parent_dir, read_bounded, replace, utf8_text,
};

/// The file format version this program reads and writes.
const VERSION: u32 = 1;

/// The length of a new user's salt: the same as the synthetic salt of an
/// unknown user [A-3], so the two cannot be told apart (docs/protocol.md
/// section 10, "Noticed, not changed").
pub const SALT_LEN: usize = 16;

/// The largest users file read: about 25 000 users. A larger file is
/// refused before it is read, so a mistake (or a hostile file) cannot make
/// the server hold hundreds of megabytes.
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// The contents of a users file.
#[derive(Clone, Debug)]
pub struct UsersFile {
    secret: [u8; 32],
    users: BTreeMap<String, Credentials>,
}

/// Why a users file cannot be read, parsed, changed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersFileError {
    /// The file does not exist.
    #[error(
        "users file {} does not exist: create it with `faxnotify user add --users {} NAME`",
        .0.display(), .0.display()
    )]
    Missing(PathBuf),
    /// Reading, writing or locking failed.
    #[error("users file {}: {}", .path.display(), faxnotify_textfile::IoReason(.source))]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// Not a users file (bad TOML, unknown keys, wrong version).
    #[error("users file {}: {message}", .path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where TOML gives them; never
        /// a value from the file.
        message: String,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error(
        "users file {} is larger than {} MiB, far more than any users file needs: not read \
         (is it the right file?)",
        .path.display(), MAX_FILE_BYTES >> 20
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The path names a FIFO, a device or a directory, not a regular file.
    #[error("users file {} is not a regular file (a FIFO, a device or a directory): not read", .path.display())]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// The path is a symbolic link to nothing.
    #[error(
        "users file {} is a symbolic link to {}, which does not exist: create the target or \
         remove the link",
        .path.display(), .target.display()
    )]
    DanglingLink {
        /// The link.
        path: PathBuf,
        /// Where it points.
        target: PathBuf,
    },
    /// A user entry is unusable.
    #[error("users file {}: user {user:?}: {message}", .path.display())]
    BadUser {
        /// The file.
        path: PathBuf,
        /// The entry's name.
        user: String,
        /// What is wrong.
        message: String,
    },
    /// The OS could not provide random bytes.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
    /// The new file could not be given the owner and group of the file it
    /// replaces; nothing was written.
    #[error(
        "users file {}: cannot give the new file the owner of the one it replaces (uid {uid}, \
         gid {gid}): {}; nothing was changed (run this as root or as that owner)",
        .path.display(), faxnotify_textfile::IoReason(.source)
    )]
    KeepOwner {
        /// The file.
        path: PathBuf,
        /// The replaced file's owner.
        uid: u32,
        /// The replaced file's group.
        gid: u32,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
}

/// Why a user cannot be added.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AddError {
    /// The name is refused by RFC 8265.
    #[error("{0}")]
    Name(PrepError),
    /// The password is refused by RFC 8265 (e.g. empty).
    #[error("{0}")]
    Password(String),
    /// The user exists and replacing was not asked for.
    #[error("user {0:?} already exists: use `faxnotify user add --replace` to set a new password")]
    Exists(String),
    /// The OS could not provide random bytes.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    unknown_user_secret: String,
    #[serde(default)]
    users: BTreeMap<String, RawUser>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    role: String,
    iterations: u32,
    salt: String,
    stored_key: String,
    server_key: String,
}

/// Credentials for `password` with a fresh random salt from the operating
/// system and the default iteration count — what a real user must look
/// like so that it cannot be told from an unknown one [A-3]. For a
/// `MemoryUserStore::insert` when the users do not come from a file.
pub fn new_credentials(password: &str, role: Role) -> Result<Credentials, AddError> {
    let mut salt = [0u8; SALT_LEN];
    random_bytes(&mut salt).map_err(AddError::Random)?;
    Credentials::from_password(password, &salt, DEFAULT_ITERATIONS, role)
        .map_err(|e| AddError::Password(e.to_string()))
}

fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| e.to_string())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        _ => "user",
    }
}

/// Parses a role name: `user` or `admin`.
pub fn parse_role(text: &str) -> Result<Role, String> {
    match text {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        _ => Err(format!("{text:?} is not a role: use `user` or `admin`")),
    }
}

fn hex_key(text: &str, what: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|_| format!("{what} is not hexadecimal"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{what} must be 32 bytes (64 hex digits)"))
}

impl UsersFile {
    /// An empty file with a fresh random secret.
    pub fn new() -> Result<Self, UsersFileError> {
        let mut secret = [0u8; 32];
        random_bytes(&mut secret).map_err(UsersFileError::Random)?;
        Ok(Self {
            secret,
            users: BTreeMap::new(),
        })
    }

    /// The server's secret for unknown users' fake salts [A-3].
    pub fn secret(&self) -> [u8; 32] {
        self.secret
    }

    /// Every user (prepared name, credentials), by name.
    pub fn users(&self) -> impl Iterator<Item = (&str, &Credentials)> {
        self.users.iter().map(|(name, c)| (name.as_str(), c))
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Takes the users out (for the server's store).
    pub fn into_users(self) -> BTreeMap<String, Credentials> {
        self.users
    }

    /// The users as a server's store (a copy: later changes to this file
    /// do not reach it; keep an `Arc<RwLock<MemoryUserStore>>` to change
    /// users while a server runs).
    pub fn to_store(&self) -> MemoryUserStore {
        let mut store = MemoryUserStore::new();
        for (name, credentials) in &self.users {
            // Names in the file are prepared already, so this cannot fail;
            // a name that did would have been refused by `parse`.
            let _ = store.insert(name, credentials.clone());
        }
        store
    }

    /// Adds a user (or replaces its password and role when `replace`):
    /// a fresh 16-byte salt and the default iteration count, so that real
    /// users look like unknown ones [A-3]. Returns the prepared name.
    pub fn add(
        &mut self,
        name: &str,
        password: &str,
        role: Role,
        replace: bool,
    ) -> Result<String, AddError> {
        let prepared = prepare_username(name).map_err(AddError::Name)?;
        if !replace && self.users.contains_key(&prepared) {
            return Err(AddError::Exists(prepared));
        }
        let credentials = new_credentials(password, role)?;
        self.users.insert(prepared.clone(), credentials);
        Ok(prepared)
    }

    /// Removes a user by any spelling that prepares to its name; returns
    /// the prepared name if it existed.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let prepared = prepare_username(name).ok()?;
        self.users.remove(&prepared).map(|_| prepared)
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self, UsersFileError> {
        let syntax = |message: String| UsersFileError::Syntax {
            path: path.to_path_buf(),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| syntax(toml_error(text, &e)))?;
        if raw.version != VERSION {
            return Err(syntax(format!(
                "version {} is not supported (this faxnotify reads version {VERSION})",
                raw.version
            )));
        }
        let secret = hex_key(&raw.unknown_user_secret, "unknown_user_secret").map_err(syntax)?;
        let mut users = BTreeMap::new();
        for (name, u) in raw.users {
            let bad = |message: String| UsersFileError::BadUser {
                path: path.to_path_buf(),
                user: name.clone(),
                message,
            };
            match prepare_username(&name) {
                Ok(prepared) if prepared == name => {}
                Ok(prepared) => {
                    return Err(bad(format!(
                        "names are stored prepared (RFC 8265): this one should read {prepared:?}"
                    )));
                }
                Err(e) => return Err(bad(e.to_string())),
            }
            let role = parse_role(&u.role).map_err(&bad)?;
            let salt = hex::decode(&u.salt).map_err(|_| bad("salt is not hexadecimal".into()))?;
            let stored = hex_key(&u.stored_key, "stored_key").map_err(&bad)?;
            let server = hex_key(&u.server_key, "server_key").map_err(&bad)?;
            let credentials = Credentials::from_parts(
                salt,
                u.iterations,
                StoredKey::from_bytes(stored),
                ServerKey::from_bytes(server),
                role,
            )
            .map_err(|e| bad(e.to_string()))?;
            users.insert(name, credentials);
        }
        Ok(Self { secret, users })
    }

    /// The file's text, with a header explaining it.
    pub fn render(&self) -> String {
        let raw = RawFile {
            version: VERSION,
            unknown_user_secret: hex::encode(self.secret),
            users: self
                .users
                .iter()
                .map(|(name, c)| {
                    let user = RawUser {
                        role: role_name(c.role()).to_owned(),
                        iterations: c.iterations(),
                        salt: hex::encode(c.salt()),
                        stored_key: hex::encode(c.stored_key().as_bytes()),
                        server_key: hex::encode(c.server_key().as_bytes()),
                    };
                    (name.clone(), user)
                })
                .collect(),
        };
        let body = toml::to_string(&raw).unwrap_or_default();
        format!(
            "# faxnotify users file: SCRAM-SHA-256 credentials and roles (no passwords),\n\
             # and the server's secret for unknown users' challenges. Keep it private\n\
             # (mode 0600). Edit it with `faxnotify user add|remove|list`.\n\n{body}"
        )
    }

    /// Reads the file at `path` (see [`read_text`] for the bounds).
    pub fn load(path: &Path) -> Result<Self, UsersFileError> {
        let text = read_text(path)?;
        Self::parse(&text, path)
    }

    /// Writes the file atomically with owner-only permissions: a temporary
    /// file (mode 0600) in the same directory, flushed to disk, renamed over
    /// `path`, and the directory flushed, so that a reader sees the old file
    /// or the new one, never a torn one.
    /// A symbolic link at `path` is written through: its target is replaced.
    ///
    /// A file replaced keeps its owner and group (Unix): `sudo faxnotify
    /// user add` on the file of a server that runs as its own user must not
    /// hand it to root, which the server, owner-only mode and all, could
    /// then no longer read. When that cannot be done (not root, and the file
    /// belongs to another user) nothing is written
    /// ([`UsersFileError::KeepOwner`]).
    pub fn save(&self, path: &Path) -> Result<(), UsersFileError> {
        let target = resolve_link(path)?;
        let path = target.as_path();
        replace(path, self.render().as_bytes(), 0o600).map_err(|error| match error {
            ReplaceError::KeepOwner { uid, gid, source } => UsersFileError::KeepOwner {
                path: path.to_path_buf(),
                uid,
                gid,
                source,
            },
            ReplaceError::Io(source) => UsersFileError::Io {
                path: path.to_path_buf(),
                source,
            },
            other => UsersFileError::Io {
                path: path.to_path_buf(),
                source: io::Error::other(other.to_string()),
            },
        })
    }

    /// Loads the file (or starts a new one with a fresh secret when it does
    /// not exist), applies `change`, and saves it, holding an exclusive lock
    /// on the directory meanwhile. Nothing is written when `change` fails.
    pub fn edit<T, E>(
        path: &Path,
        change: impl FnOnce(&mut UsersFile, bool) -> Result<T, E>,
    ) -> Result<Result<T, E>, UsersFileError> {
        // Lock (and write in) the directory of the file itself, also when
        // `path` is a symbolic link to it elsewhere.
        let target = resolve_link(path)?;
        let path = target.as_path();
        let dir = parent_dir(path);
        let lock = File::open(&dir).map_err(|source| UsersFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // Serialises concurrent `user add/remove` runs on the same file.
        lock.lock().map_err(|source| UsersFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let (mut file, created) = match Self::load(path) {
            Ok(file) => (file, false),
            Err(UsersFileError::Missing(_)) => (Self::new()?, true),
            Err(e) => return Err(e),
        };
        let result = change(&mut file, created);
        if result.is_ok() {
            file.save(path)?;
        }
        drop(lock);
        Ok(result)
    }
}

/// Reads the users file's text: a regular file of at most
/// [`MAX_FILE_BYTES`] ([`read_bounded`]).
pub fn read_text(path: &Path) -> Result<String, UsersFileError> {
    let path_buf = || path.to_path_buf();
    let bytes = read_bounded(path, MAX_FILE_BYTES).map_err(|e| match e {
        BoundedReadError::Missing => UsersFileError::Missing(path_buf()),
        BoundedReadError::NotAFile => UsersFileError::NotAFile { path: path_buf() },
        BoundedReadError::TooLarge { .. } => UsersFileError::TooLarge { path: path_buf() },
        BoundedReadError::Io(source) => UsersFileError::Io {
            path: path_buf(),
            source,
        },
        other => UsersFileError::Io {
            path: path_buf(),
            source: io::Error::other(other.to_string()),
        },
    })?;
    utf8_text(bytes).map_err(|e| UsersFileError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A TOML error as "line L, column C: what", without the excerpt of the
/// file TOML's own message carries (the file's values are secrets), and
/// with any quoted value in the explanation left out.
fn toml_error(text: &str, error: &toml::de::Error) -> String {
    let what = redact_quoted(error.message().trim());
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `message` with the contents of every double-quoted run replaced by `…`:
/// serde quotes the offending value ("invalid type: string \"…\"").
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        match (c, inside) {
            ('"', false) => {
                out.push_str("\"…\"");
                inside = true;
            }
            ('"', true) => inside = false,
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

/// The file `path` names: the target of a symbolic link (so that writing
/// replaces the target, not the link), or `path` itself.
fn resolve_link(path: &Path) -> Result<PathBuf, UsersFileError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(target) => Ok(target),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(UsersFileError::DanglingLink {
                path: path.to_path_buf(),
                target: fs::read_link(path).unwrap_or_default(),
            }),
            Err(source) => Err(UsersFileError::Io {
                path: path.to_path_buf(),
                source,
            }),
        },
        _ => Ok(path.to_path_buf()),
    }
}

/// Whether `path` can be read or written by anyone but its owner (Unix).
pub fn too_open(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use faxnotify_core::server::UserStore as _;

    use super::*;

    #[test]
    fn the_store_serves_every_user_of_the_file_and_salts_are_fresh() {
        let mut file = UsersFile::new().unwrap();
        file.add("Alice", "correct horse", Role::Admin, false)
            .unwrap();
        file.add("bob", "battery staple", Role::User, false)
            .unwrap();
        let store = file.to_store();
        assert_eq!(store.len(), 2);
        let alice = store.credentials("alice").expect("stored prepared");
        let bob = store.credentials("bob").expect("bob");
        assert_eq!(alice.role(), Role::Admin);
        assert_ne!(alice.salt(), bob.salt());
        assert!(store.credentials("mallory").is_none());
        let (a, b) = (
            new_credentials("same", Role::User).unwrap(),
            new_credentials("same", Role::User).unwrap(),
        );
        assert_eq!(a.salt().len(), SALT_LEN);
        assert_ne!(a.salt(), b.salt(), "every credential gets its own salt");
    }

    #[test]
    fn a_file_reads_back_what_it_wrote() {
        let mut file = UsersFile::new().unwrap();
        file.add("Alice", "correct horse", Role::Admin, false)
            .unwrap();
        file.add("bob", "battery staple", Role::User, false)
            .unwrap();
        let text = file.render();
        assert!(!text.contains("correct horse"));
        let back = UsersFile::parse(&text, Path::new("users.toml")).unwrap();
        assert_eq!(back.secret(), file.secret());
        let names: Vec<&str> = back.users().map(|(n, _)| n).collect();
        assert_eq!(names, ["alice", "bob"]);
        let (_, alice) = back.users().next().unwrap();
        assert_eq!(alice.role(), Role::Admin);
        assert_eq!(alice.salt().len(), SALT_LEN);
        assert_eq!(alice.iterations(), DEFAULT_ITERATIONS);
        // The stored keys are those of the password.
        let again = Credentials::from_password(
            "correct horse",
            alice.salt(),
            alice.iterations(),
            Role::Admin,
        )
        .unwrap();
        assert_eq!(&again, alice);
    }

    /// `sudo faxnotify user add` on the users file of a server that runs
    /// as its own user: the file stays that user's (before, root's new
    /// file, mode 0600, replaced it, and the server could neither reload
    /// it nor start again). Needs root to hand the file to another user.
    #[cfg(unix)]
    #[test]
    fn an_edit_keeps_the_owner_and_group_of_the_file() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        UsersFile::edit(&path, |file, _| file.add("alice", "one", Role::User, false))
            .unwrap()
            .unwrap();
        let (uid, gid) = (65534, 65533);
        match std::os::unix::fs::chown(&path, Some(uid), Some(gid)) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("not run: only root can give the file to another user");
                return;
            }
            other => other.unwrap(),
        }
        UsersFile::edit(&path, |file, _| file.add("bob", "two", Role::User, false))
            .unwrap()
            .unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(UsersFile::load(&path).unwrap().len(), 2);
    }

    #[test]
    fn salts_are_fresh_per_user() {
        let mut file = UsersFile::new().unwrap();
        file.add("a", "pw", Role::User, false).unwrap();
        file.add("b", "pw", Role::User, false).unwrap();
        let salts: Vec<&[u8]> = file.users().map(|(_, c)| c.salt()).collect();
        assert_ne!(salts[0], salts[1]);
    }

    #[test]
    fn adding_twice_needs_replace() {
        let mut file = UsersFile::new().unwrap();
        file.add("carol", "one", Role::User, false).unwrap();
        let err = file.add("CAROL", "two", Role::User, false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        file.add("CAROL", "two", Role::User, true).unwrap();
        assert_eq!(file.len(), 1);
        assert_eq!(file.remove("Carol").as_deref(), Some("carol"));
        assert!(file.is_empty());
    }

    #[test]
    fn bad_files_are_explained() {
        let path = Path::new("u.toml");
        let err = UsersFile::parse("version = 2\nunknown_user_secret = \"00\"\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("version 2 is not supported"), "{err}");
        let secret = "ab".repeat(32);
        let err = UsersFile::parse(
            &format!(
                "version = 1\nunknown_user_secret = \"{secret}\"\n[users.Alice]\nrole = \"user\"\n\
                 iterations = 4096\nsalt = \"{s}\"\nstored_key = \"{secret}\"\nserver_key = \"{secret}\"\n",
                s = "00".repeat(16)
            ),
            path,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("should read \"alice\""), "{err}");
        let err = UsersFile::parse("version = 1\n", path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown_user_secret"), "{err}");
    }
}
