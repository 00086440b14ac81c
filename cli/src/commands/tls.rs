//! `faxnotify tls self-signed|fingerprint`: make a server certificate for a
//! LAN, and show the fingerprint clients pin.

use std::path::{Path, PathBuf};

use clap::{Args as ClapArgs, Subcommand};
use faxnotify_core::tls::pem::parse_chain;
use faxnotify_core::tls::pin::Fingerprint;
use faxnotify_core::tls::{CertificateDer, ServerIdentity};
use time::{Duration, OffsetDateTime};

use faxnotify_textfile::IoReason;

use crate::failure::{CmdResult, Exit, Failure};
use crate::tls::files::{load_identity, new_file, private_file};

/// `faxnotify tls`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Make a self-signed certificate and key for the server (cert.pem and
    /// key.pem, the key mode 0600), and print the fingerprint clients pin.
    #[command(after_help = "\
Then start the server with the files, and pin the fingerprint on each client host:
  faxnotify server --tls-cert DIR/cert.pem --tls-key DIR/key.pem ...
  faxnotify settings set --trust pin:sha256:AB:CD:...")]
    SelfSigned {
        /// A name clients reach the server by: a DNS name or an IP address
        /// (repeat for several; the first is also the certificate's subject).
        #[arg(long, value_name = "NAME", required = true)]
        name: Vec<String>,
        /// The directory to write cert.pem and key.pem into (created if
        /// missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// How long the certificate is valid.
        #[arg(long, value_name = "DAYS", default_value_t = 3650)]
        days: u32,
        /// Replace cert.pem and key.pem if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Print the SHA-256 fingerprint of a PEM certificate (the first one of
    /// a chain: the server's own), to pin on clients.
    Fingerprint {
        /// The PEM certificate file.
        #[arg(value_name = "FILE")]
        cert: PathBuf,
    },
}

/// Runs `faxnotify tls`.
pub fn run(args: Args) -> CmdResult {
    match args.action {
        Action::SelfSigned {
            name,
            out,
            days,
            force,
        } => self_signed(&name, &out, days, force),
        Action::Fingerprint { cert } => {
            let pem =
                crate::tls::files::read_pem_file(&cert, "certificate").map_err(Failure::usage)?;
            let chain =
                parse_chain(&pem).map_err(|e| Failure::usage(format!("{} {e}", cert.display())))?;
            outln!("{}", Fingerprint::of(&chain[0]));
            Ok(Exit::Ok)
        }
    }
}

/// A new self-signed certificate: (cert PEM, key PEM, DER, expiry).
fn make(
    names: &[String],
    days: u32,
) -> Result<(String, String, CertificateDer<'static>, OffsetDateTime), Failure> {
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| {
        Failure::usage(format!(
            "--name: {} is not a DNS name or an IP address a certificate can carry ({e})",
            names.join(", ")
        ))
    })?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0].clone());
    let now = OffsetDateTime::now_utc();
    // An hour of slack for clients whose clocks run a little behind.
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days.max(1)));
    let key = rcgen::KeyPair::generate()
        .map_err(|e| Failure::runtime(format!("cannot make a key: {e}")))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| Failure::runtime(format!("cannot make the certificate: {e}")))?;
    Ok((
        cert.pem(),
        key.serialize_pem(),
        cert.der().clone(),
        params.not_after,
    ))
}

fn self_signed(names: &[String], out: &Path, days: u32, force: bool) -> CmdResult {
    for name in names {
        faxnotify_core::client::check_server_name(name)
            .map_err(|e| Failure::usage(format!("--name: {e}")))?;
    }
    let cert_path = out.join("cert.pem");
    let key_path = out.join("key.pem");
    if !force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(Failure::usage(format!(
                    "{} exists: give --force to replace it (servers using it must then be given the new \
                     certificate, and clients the new fingerprint)",
                    path.display()
                )));
            }
        }
    }
    let (cert_pem, key_pem, der, not_after) = make(names, days)?;
    crate::dirs::create_dirs(out).map_err(|e| {
        Failure::runtime(format!("cannot create {}: {}", out.display(), IoReason(&e)))
    })?;
    // The key first and never readable by others, not even for a moment.
    private_file(&key_path, key_pem.as_bytes()).map_err(|e| {
        Failure::runtime(format!(
            "cannot write {}: {}",
            key_path.display(),
            IoReason(&e)
        ))
    })?;
    // Public, but only its user may change it, whatever the umask; a new
    // file, like the key, so that a link planted in its place is replaced.
    new_file(&cert_path, cert_pem.as_bytes(), 0o644).map_err(|e| {
        Failure::runtime(format!(
            "cannot write {}: {}",
            cert_path.display(),
            IoReason(&e)
        ))
    })?;
    // Proves the pair works as a server identity before anyone relies on it.
    let identity: ServerIdentity =
        load_identity(&cert_path, &key_path).map_err(Failure::runtime)?;
    drop(identity);

    let fingerprint = Fingerprint::of(&der);
    outln!(
        "wrote {} (certificate for {}, valid until {})",
        cert_path.display(),
        names.join(", "),
        not_after.date()
    );
    outln!(
        "wrote {} (private key, mode 0600: keep it secret)",
        key_path.display()
    );
    outln!("fingerprint: {fingerprint}");
    outln!();
    outln!("on the server:");
    outln!(
        "  faxnotify server --tls-cert {} --tls-key {} ...",
        cert_path.display(),
        key_path.display()
    );
    outln!("on each client host (the clients trust exactly this certificate):");
    outln!("  faxnotify settings set --trust pin:{fingerprint}");
    Ok(Exit::Ok)
}
