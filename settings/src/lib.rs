//! The machine-wide client settings file (TOML), so that every client
//! instance on a host reads the same settings when it starts.
//!
//! The settings themselves ([`NetworkSettings`], [`TlsSettings`] and their
//! text forms) belong to `faxnotify-core`, which does no I/O; this crate is
//! the file: its format ([`SettingsFile::parse`], [`SettingsFile::render`])
//! and reading and writing it safely ([`SettingsFile::load`],
//! [`SettingsFile::save`]). `faxnotify settings` writes it and
//! `faxnotify client` reads it; an application that embeds a client can
//! read the same file.
//!
//! ```toml
//! # Address of the fax server (host:port). Optional.
//! server = "fax.example:4580"
//! # Or several servers of a cluster, tried in turn (instead of `server`):
//! # servers = ["fax1.example:4580", "fax2.example:4580"]
//!
//! [network]
//! # "dynamic", "range:LO-HI", "fixed:PORT" or "none"
//! listen = "range:6000-6010"
//! # "route" (default), "any" or an IP address
//! listen_address = "route"
//!
//! [tls]
//! # "system", "ca:PATH", "pin:sha256:AB:CD:..." or "off"
//! trust = "system"
//! # The name the server's certificate carries (default: server's host). Optional.
//! server_name = "fax.example"
//! ```
//!
//! Reading is bounded and never blocks: only a regular file of at most
//! [`MAX_FILE_BYTES`] is read (a FIFO or a device put in its place is
//! refused, so a client starting cannot hang on it). Writing is atomic: a
//! temporary file in the same directory, flushed to disk, renamed over the
//! old one, so a client starting meanwhile reads the old file or the new
//! one, never a torn one. A settings file that is a symbolic link is
//! written through: the link stays and its target is replaced.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use faxnotify_core::client::{
    ListenAddress, ListenPolicy, NetworkSettings, SettingsError, TlsSettingError, TlsSettings,
    TlsTrust, check_server_name,
};
use faxnotify_textfile::{BoundedReadError, read_bounded, utf8_text};
use serde::Deserialize;

/// The largest settings file read. A rendered file is under 2 KiB; a larger
/// one is refused before it is read (is it the right file?).
pub const MAX_FILE_BYTES: u64 = 64 << 10;

/// The contents of the machine-wide client settings file.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct SettingsFile {
    /// The fax server as `host:port`, unresolved (resolving is the
    /// application's job), if the file names one (`server = "..."`).
    pub server: Option<String>,
    /// Several fax servers as `host:port`, unresolved, in the order a
    /// client tries them (`servers = [...]`): the servers of a cluster a
    /// client fails over between. Empty when the file has no `servers`; a
    /// file has `server` or `servers`, not both. [`SettingsFile::all_servers`]
    /// reads either.
    pub servers: Vec<String>,
    /// The network settings every client on the host starts with.
    pub network: NetworkSettings,
    /// TLS: whom to trust, and the name to verify (`[tls]`; absent: plain TCP).
    pub tls: TlsSettings,
}

/// Why a settings file cannot be read, parsed or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsFileError {
    /// Reading or writing the file failed (a missing file is an
    /// [`io::ErrorKind::NotFound`] here).
    #[error("settings file {}: {}", .path.display(), faxnotify_textfile::IoReason(.source))]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Writing the file failed; the old one, if any, is unchanged.
    #[error("settings file {}: {source}", .path.display())]
    NotWritten {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: faxnotify_textfile::ReplaceError,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error(
        "settings file {} is larger than {} KiB, far more than any settings file needs: \
         not read (is it the right file?)",
        .path.display(), MAX_FILE_BYTES >> 10
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The path names a FIFO, a device or a directory, not a regular file.
    #[error(
        "settings file {} is not a regular file (a FIFO, a device or a directory): not read",
        .path.display()
    )]
    NotAFile {
        /// The file.
        path: PathBuf,
    },
    /// The text is not valid TOML or has unknown or mistyped keys.
    #[error("settings file{}: {message}", path_suffix(.path))]
    Syntax {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
        /// The TOML parser's explanation (with line and column).
        message: String,
    },
    /// A value is well-formed TOML but not a valid setting.
    #[error("settings file{}: {key}: {source}", path_suffix(.path))]
    Invalid {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
        /// The offending key, e.g. `network.listen`.
        key: &'static str,
        /// What is wrong with it.
        #[source]
        source: SettingsError,
    },
    /// A `[tls]` value is not valid.
    #[error("settings file{}: {key}: {source}", path_suffix(.path))]
    BadTls {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
        /// The offending key, e.g. `tls.trust`.
        key: &'static str,
        /// What is wrong with it.
        #[source]
        source: TlsSettingError,
    },
    /// The `server` value is not `host:port`.
    #[error(
        "settings file{}: server: {value:?} is not host:port (e.g. \"fax.example:4580\")",
        path_suffix(.path)
    )]
    BadServer {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
        /// The value given.
        value: String,
    },
    /// An entry of `servers` is not `host:port`.
    #[error(
        "settings file{}: servers: entry {} ({value:?}) is not host:port \
         (e.g. \"fax.example:4580\")",
        path_suffix(.path), .index + 1
    )]
    BadServerInList {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
        /// The entry's position (0-based).
        index: usize,
        /// The value given.
        value: String,
    },
    /// `servers` is an empty list.
    #[error(
        "settings file{}: servers is empty: list at least one host:port, or remove the key",
        path_suffix(.path)
    )]
    NoServers {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
    },
    /// Both `server` and `servers` are set.
    #[error(
        "settings file{}: both server and servers are set: keep one (servers = [\"a:4580\", \
         \"b:4580\"] lists several servers, server = \"a:4580\" names one)",
        path_suffix(.path)
    )]
    ServerAndServers {
        /// The file, when it was loaded from one.
        path: Option<PathBuf>,
    },
}

fn path_suffix(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" {}", p.display()),
        None => String::new(),
    }
}

/// The file as written, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    server: Option<String>,
    servers: Option<Vec<String>>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    tls: RawTls,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    trust: Option<String>,
    server_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    listen: Option<String>,
    listen_address: Option<String>,
}

/// `host:port` with a non-empty host and a non-zero port (IPv6 in brackets).
fn is_host_port(value: &str) -> bool {
    let Some((host, port)) = value.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner.strip_suffix(']').is_some_and(|h| !h.is_empty())
    } else {
        !host.is_empty() && !host.contains(':') && !host.chars().any(char::is_whitespace)
    };
    host_ok && matches!(port.parse::<u16>(), Ok(p) if p != 0)
}

/// Checks the server keys: `server` or a non-empty `servers` of
/// `host:port` values, not both.
fn check_servers(
    server: Option<&str>,
    servers: Option<&[String]>,
    path: Option<&Path>,
) -> Result<(), SettingsFileError> {
    let path = || path.map(Path::to_path_buf);
    if let Some(server) = server {
        if servers.is_some() {
            return Err(SettingsFileError::ServerAndServers { path: path() });
        }
        if !is_host_port(server) {
            return Err(SettingsFileError::BadServer {
                path: path(),
                value: server.to_owned(),
            });
        }
    }
    if let Some(servers) = servers {
        if servers.is_empty() {
            return Err(SettingsFileError::NoServers { path: path() });
        }
        if let Some((index, value)) = servers.iter().enumerate().find(|(_, s)| !is_host_port(s)) {
            return Err(SettingsFileError::BadServerInList {
                path: path(),
                index,
                value: value.clone(),
            });
        }
    }
    Ok(())
}

impl SettingsFile {
    /// A settings file with these contents.
    pub fn new(server: Option<String>, network: NetworkSettings) -> Self {
        Self {
            server,
            servers: Vec::new(),
            network,
            tls: TlsSettings::default(),
        }
    }

    /// The servers the file names, in order: `servers`, or `server` alone
    /// (empty when it names none).
    pub fn all_servers(&self) -> Vec<&str> {
        match &self.server {
            Some(server) if self.servers.is_empty() => vec![server.as_str()],
            _ => self.servers.iter().map(String::as_str).collect(),
        }
    }

    /// Where the file lives by default on this platform.
    pub fn default_path() -> PathBuf {
        if cfg!(windows) {
            PathBuf::from(r"C:\ProgramData\faxnotify\client.toml")
        } else {
            PathBuf::from("/etc/faxnotify/client.toml")
        }
    }

    /// Parses and validates the file's text. Missing keys take their defaults
    /// (`listen = "dynamic"`, no server); unknown keys are refused so that a
    /// misspelt setting is not silently ignored.
    pub fn parse(text: &str) -> Result<Self, SettingsFileError> {
        Self::parse_inner(text, None)
    }

    fn parse_inner(text: &str, path: Option<&Path>) -> Result<Self, SettingsFileError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let mut message = e.to_string().trim_end().to_owned();
            if let Some(hint) = e.span().and_then(|span| unquoted_hint(text, span.start)) {
                message.push('\n');
                message.push_str(&hint);
            }
            SettingsFileError::Syntax {
                path: path.map(Path::to_path_buf),
                message,
            }
        })?;
        check_servers(raw.server.as_deref(), raw.servers.as_deref(), path)?;
        let listen = match raw.network.listen {
            Some(text) => {
                text.parse::<ListenPolicy>()
                    .map_err(|source| SettingsFileError::Invalid {
                        path: path.map(Path::to_path_buf),
                        key: "network.listen",
                        source,
                    })?
            }
            None => ListenPolicy::default(),
        };
        let mut network = NetworkSettings::new(listen);
        if let Some(text) = raw.network.listen_address {
            network.listen_address =
                text.parse::<ListenAddress>()
                    .map_err(|source| SettingsFileError::Invalid {
                        path: path.map(Path::to_path_buf),
                        key: "network.listen_address",
                        source,
                    })?;
        }
        let bad_tls = |key, source| SettingsFileError::BadTls {
            path: path.map(Path::to_path_buf),
            key,
            source,
        };
        let trust = match raw.tls.trust {
            Some(text) => text
                .parse::<TlsTrust>()
                .map_err(|source| bad_tls("tls.trust", source))?,
            None => TlsTrust::default(),
        };
        if let Some(name) = &raw.tls.server_name {
            check_server_name(name).map_err(|source| bad_tls("tls.server_name", source))?;
        }
        let mut tls = TlsSettings::new(trust);
        tls.server_name = raw.tls.server_name;
        Ok(Self {
            server: raw.server,
            servers: raw.servers.unwrap_or_default(),
            network,
            tls,
        })
    }

    /// Checks the settings without writing anything.
    pub fn validate(&self) -> Result<(), SettingsFileError> {
        // An empty `servers` field means the key is absent.
        let servers = (!self.servers.is_empty()).then_some(&self.servers[..]);
        check_servers(self.server.as_deref(), servers, None)?;
        self.tls
            .validate()
            .map_err(|source| SettingsFileError::BadTls {
                path: None,
                key: "tls.server_name",
                source,
            })?;
        self.network
            .validate()
            .map_err(|source| SettingsFileError::Invalid {
                path: None,
                key: "network.listen",
                source,
            })
    }

    /// Renders the file with explanatory comments. [`SettingsFile::parse`]
    /// reads the result back unchanged.
    pub fn render(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let mut out = String::from(
            "# faxnotify client settings, shared by every client instance on this host.\n\
             # Each client reads them once when it starts: a change takes effect when\n\
             # the client restarts.\n\n",
        );
        if let Some(server) = &self.server {
            out.push_str("# The fax server, host:port.\n");
            out.push_str(&format!("server = {}\n\n", quote(server)));
        }
        if !self.servers.is_empty() {
            let list: Vec<String> = self.servers.iter().map(|s| quote(s)).collect();
            out.push_str(
                "# The fax servers, host:port, tried in turn: a client that loses its\n\
                 # server, or cannot reach it, moves on to the next one and resumes its\n\
                 # session there (the servers of one cluster).\n",
            );
            out.push_str(&format!("servers = [{}]\n\n", list.join(", ")));
        }
        out.push_str(
            "[network]\n\
             # The callback port the server dials back to:\n\
             #   \"dynamic\"          any free port (any number of clients per host)\n\
             #   \"range:LO-HI\"      the first free port of a range your firewall opens\n\
             #                      (up to HI-LO+1 clients per host)\n\
             #   \"fixed:PORT\"       exactly PORT (only one client per host)\n\
             #   \"none\"             no port: notifications come over the connection to\n\
             #                      the server (for hosts it cannot connect back to)\n",
        );
        out.push_str(&format!(
            "listen = {}\n",
            quote(&self.network.listen.to_string())
        ));
        out.push_str(
            "# The local address the callback listener binds:\n\
             #   \"route\"            the address this host reaches the server from,\n\
             #                      which is the one the server dials back to\n\
             #   \"any\"              every interface (when callbacks arrive on another\n\
             #                      address, e.g. a port forwarded to another interface)\n\
             #   an IP address      exactly that address\n",
        );
        out.push_str(&format!(
            "listen_address = {}\n",
            quote(&self.network.listen_address.to_string())
        ));
        out.push_str(
            "\n[tls]\n\
             # How this host trusts the fax server's certificate:\n\
             #   \"system\"               the operating system's trusted roots\n\
             #   \"ca:/path/ca.pem\"      only the CA certificates in this PEM file\n\
             #   \"pin:sha256:AB:...\"    exactly this certificate (a self-signed server;\n\
             #                          `faxnotify tls self-signed` prints the value)\n\
             #   \"off\"                  no TLS: plain TCP, nothing is encrypted\n",
        );
        out.push_str(&format!("trust = {}\n", quote(&self.tls.trust.to_string())));
        if let Some(name) = &self.tls.server_name {
            out.push_str(
                "# The name the server's certificate carries (default: the server's host).\n",
            );
            out.push_str(&format!("server_name = {}\n", quote(name)));
        }
        out
    }

    /// Reads and validates the file at `path` (a regular file of at most
    /// [`MAX_FILE_BYTES`], opened without blocking).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SettingsFileError> {
        let path = path.as_ref();
        let text = read_text(path)?;
        Self::parse_inner(&text, Some(path))
    }

    /// Validates the settings and writes them to `path` atomically: into a
    /// temporary file in the same directory (mode 0644: every client on the
    /// host reads it, and it holds no secret), flushed to disk, renamed over
    /// `path`, and the directory flushed, so that a client starting
    /// meanwhile reads either the old or the new file, never a torn one.
    /// A symbolic link at `path` is written through: its target is replaced.
    /// A file replaced keeps its owner and group; when that cannot be done,
    /// nothing is written ([`faxnotify_textfile::replace`]).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SettingsFileError> {
        self.validate()?;
        let target = resolve_link(path.as_ref())?;
        let path = target.as_path();
        faxnotify_textfile::replace(path, self.render().as_bytes(), 0o644).map_err(|source| {
            SettingsFileError::NotWritten {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}

/// The keys whose values are text: written without quotes
/// (`server = 10.0.0.1:4580`), TOML reads a number or nothing at all and
/// says "invalid float", which does not tell what to change.
const TEXT_KEYS: [&str; 5] = ["server", "listen", "listen_address", "trust", "server_name"];

/// For a TOML error at `offset` of `text`, on a line that gives a text key
/// a value without quotes: the line as it should be.
fn unquoted_hint(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, value) = line.split_once('=')?;
    let (key, value) = (key.trim(), value.trim());
    let quoted = value.starts_with(['"', '\'', '[', '{']);
    // A bare number (`listen = 6003`) is no text that lost its quotes: the
    // parser's "expected a string" says enough.
    let number = value.bytes().all(|b| b.is_ascii_digit());
    (TEXT_KEYS.contains(&key) && !value.is_empty() && !quoted && !number)
        .then(|| format!("text goes in double quotes: {key} = \"{value}\""))
}

/// The file's text: a regular file of at most [`MAX_FILE_BYTES`], opened
/// without blocking (a FIFO put in its place must not hang the client).
fn read_text(path: &Path) -> Result<String, SettingsFileError> {
    let path_buf = || path.to_path_buf();
    let bytes = read_bounded(path, MAX_FILE_BYTES).map_err(|e| match e {
        BoundedReadError::NotAFile => SettingsFileError::NotAFile { path: path_buf() },
        BoundedReadError::TooLarge { .. } => SettingsFileError::TooLarge { path: path_buf() },
        BoundedReadError::Missing => SettingsFileError::Io {
            path: path_buf(),
            source: io::Error::new(io::ErrorKind::NotFound, "it does not exist"),
        },
        BoundedReadError::Io(source) => SettingsFileError::Io {
            path: path_buf(),
            source,
        },
        other => SettingsFileError::Io {
            path: path_buf(),
            source: io::Error::other(other.to_string()),
        },
    })?;
    utf8_text(bytes).map_err(|e| SettingsFileError::Syntax {
        path: Some(path_buf()),
        message: e.to_string(),
    })
}

/// The file `path` names: the target of a symbolic link (so that saving
/// replaces the target, not the link), or `path` itself.
fn resolve_link(path: &Path) -> Result<PathBuf, SettingsFileError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(|source| SettingsFileError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
        _ => Ok(path.to_path_buf()),
    }
}
