//! `faxnotify settings show|set`: the machine-wide client settings (the
//! core's settings file, TOML), shared by every client on the host.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};
use faxnotify_core::client::{ListenAddress, ListenPolicy, TlsTrust, check_server_name};
use faxnotify_settings::{SettingsFile, SettingsFileError};

use faxnotify_textfile::IoReason;

use crate::commands::client::load_settings;
use crate::failure::{CmdResult, Exit, Failure};

/// `faxnotify settings`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Print the settings in force for new clients.
    Show {
        /// The settings file (default /etc/faxnotify/client.toml).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
    },
    /// Change the settings. Running clients keep theirs until restarted.
    Set {
        /// The settings file (default /etc/faxnotify/client.toml).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
        /// The callback port's listen policy: `dynamic` (any free port; any
        /// number of clients per host), `range:LO-HI` (the first free port of
        /// a range the firewall opens), `fixed:PORT` (exactly one client
        /// per host), or `none` (no callback port: notifications come over
        /// the control connection; needs a server that offers it).
        #[arg(long, visible_alias = "listen", value_name = "POLICY")]
        port: Option<String>,
        /// The local address the callback listener binds: `route` (the one
        /// the server is reached from, which it dials back; the default),
        /// `any` (every interface) or an IP address.
        #[arg(long, value_name = "ADDR")]
        listen_address: Option<String>,
        /// The fax server, host:port. Repeat it to list the servers of a
        /// cluster, tried in turn (written as `servers = [...]`); the list
        /// given replaces the one in the file.
        #[arg(long, value_name = "ADDR")]
        server: Vec<String>,
        /// How clients trust the server's TLS certificate: `system` (the
        /// host's trusted roots), `ca:FILE` (the CA certificates in a PEM
        /// file), `pin:sha256:AB:CD:...` (exactly that certificate, as
        /// `faxnotify tls self-signed` prints it), or `off` (plain TCP,
        /// nothing encrypted).
        #[arg(long, value_name = "TRUST")]
        trust: Option<String>,
        /// The name the server's certificate carries, when clients dial it
        /// by another name or an IP address ("" to go back to the server's
        /// host).
        #[arg(long, value_name = "NAME")]
        tls_server_name: Option<String>,
    },
}

fn show(file: &SettingsFile, path: Option<&PathBuf>) {
    match path {
        Some(p) => outln!("settings file: {}", p.display()),
        None => outln!(
            "settings file: {} (does not exist: the defaults apply)",
            SettingsFile::default_path().display()
        ),
    }
    match file.all_servers()[..] {
        [] => outln!("server: (not set: give --server)"),
        [one] => outln!("server: {one}"),
        ref several => outln!(
            "servers: {} (tried in turn; a client that loses one moves on to the next)",
            several.join(", ")
        ),
    }
    let listen = file.network.listen;
    let instances = match listen.instances_per_host() {
        Some(1) => "one client per host".to_owned(),
        Some(n) => format!("up to {n} clients per host"),
        None => "any number of clients per host".to_owned(),
    };
    outln!("listen: {listen} ({instances})");
    let address = match file.network.listen_address {
        ListenAddress::Route => "the address the server is reached from".to_owned(),
        ListenAddress::Any => "every interface".to_owned(),
        other => other.to_string(),
    };
    outln!(
        "listen address: {} ({address})",
        file.network.listen_address
    );
    outln!("tls: {}", describe_tls(file));
}

/// `--trust`, with a CA file's path made absolute (every client on the
/// host reads it, from wherever it runs) and the file checked now rather
/// than at every client's start.
fn checked_trust(text: &str) -> Result<TlsTrust, Failure> {
    let unchanged = |e: String| Failure::usage(format!("--trust: {e}; nothing was changed"));
    match text
        .parse::<TlsTrust>()
        .map_err(|e| unchanged(e.to_string()))?
    {
        TlsTrust::CaFile(path) => {
            let path = std::path::absolute(&path).map_err(|e| unchanged(e.to_string()))?;
            let trust = TlsTrust::CaFile(path);
            crate::tls::trust::client_tls(
                &faxnotify_core::client::TlsSettings::new(trust.clone()),
                "localhost:1",
            )
            .map_err(unchanged)?;
            Ok(trust)
        }
        trust => Ok(trust),
    }
}

/// The TLS settings in words.
fn describe_tls(file: &SettingsFile) -> String {
    let name = match (&file.tls.server_name, file.all_servers().first()) {
        (Some(name), _) => format!("; the certificate must name {name}"),
        (None, Some(server)) => {
            format!("; the certificate must name {}", file.tls.name_for(server))
        }
        (None, None) => String::new(),
    };
    match &file.tls.trust {
        TlsTrust::Off => "off (plain TCP: nothing is encrypted)".to_owned(),
        TlsTrust::System => format!("on, trusting the system's root certificates{name}"),
        TlsTrust::CaFile(path) => {
            format!(
                "on, trusting the CA certificates in {}{name}",
                path.display()
            )
        }
        TlsTrust::Pinned(fingerprint) => {
            format!("on, trusting exactly the certificate {fingerprint}")
        }
        other => format!("on ({other})"),
    }
}

/// Runs `faxnotify settings`.
pub fn run(args: Args) -> CmdResult {
    match args.action {
        Action::Show { settings } => {
            let (file, path) = load_settings(settings.as_deref())?;
            show(&file, path.as_ref());
            Ok(Exit::Ok)
        }
        Action::Set {
            settings,
            port,
            listen_address,
            server,
            trust,
            tls_server_name,
        } => {
            if port.is_none()
                && server.is_empty()
                && listen_address.is_none()
                && trust.is_none()
                && tls_server_name.is_none()
            {
                return Err(Failure::usage(
                    "nothing to change: give --port dynamic|range:LO-HI|fixed:PORT, \
                     --listen-address route|any|IP, --server HOST:PORT, \
                     --trust system|ca:FILE|pin:FINGERPRINT|off and/or --tls-server-name NAME",
                ));
            }
            let path = settings.unwrap_or_else(SettingsFile::default_path);
            let mut created = false;
            let mut file = match SettingsFile::load(&path) {
                Ok(file) => file,
                Err(SettingsFileError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    created = true;
                    SettingsFile::default()
                }
                Err(e) => return Err(Failure::usage(e.to_string())),
            };
            if let Some(text) = port {
                file.network.listen = text
                    .parse::<ListenPolicy>()
                    .map_err(|e| Failure::usage(format!("--port: {e}; nothing was changed")))?;
            }
            if let Some(text) = listen_address {
                file.network.listen_address = text.parse::<ListenAddress>().map_err(|e| {
                    Failure::usage(format!("--listen-address: {e}; nothing was changed"))
                })?;
            }
            // One server keeps the old `server` key; several are `servers`.
            match &server[..] {
                [] => {}
                [one] => {
                    file.server = Some(one.clone());
                    file.servers.clear();
                }
                _ => {
                    file.server = None;
                    file.servers = server;
                }
            }
            if let Some(text) = trust {
                file.tls.trust = checked_trust(&text)?;
            }
            match tls_server_name.as_deref() {
                None => {}
                Some("") => file.tls.server_name = None,
                Some(name) => {
                    check_server_name(name).map_err(|e| {
                        Failure::usage(format!("--tls-server-name: {e}; nothing was changed"))
                    })?;
                    file.tls.server_name = Some(name.to_owned());
                }
            }
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::dirs::create_dirs(dir).map_err(|e| {
                    Failure::runtime(format!("cannot create {}: {}", dir.display(), IoReason(&e)))
                })?;
            }
            file.save(&path).map_err(|e| match e {
                SettingsFileError::Io { .. } | SettingsFileError::NotWritten { .. } => {
                    Failure::runtime(e.to_string())
                }
                _ => Failure::usage(format!("{e}; nothing was changed")),
            })?;
            // A new file (e.g. /etc/faxnotify/client.toml, when run as
            // root) is said to be new: it changes every client on the host.
            if created {
                outln!("created {} (for every client on this host)", path.display());
            } else {
                outln!("saved {}", path.display());
            }
            show(&file, Some(&path));
            outln!(
                "running clients keep their settings until they are restarted; \
                 new clients use these"
            );
            Ok(Exit::Ok)
        }
    }
}
