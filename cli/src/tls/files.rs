//! The server's certificate and key files: loading with errors that name
//! the file and what is wrong with it, and noticing when they change.

use std::io;
use std::path::{Path, PathBuf};

use faxnotify_core::tls::pem::{parse_chain, parse_key};
use faxnotify_core::tls::{ServerIdentity, TlsConfigError};
use faxnotify_textfile::{BoundedReadError, read_bounded};
use sha2::{Digest as _, Sha256};

use crate::runtime::ServerOps;
use crate::tls::dates::{expired_on, warn_if_out_of_dates};
use time::OffsetDateTime;

/// The largest PEM file read: a chain of a few certificates is a few KiB.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Reads `path` for `what` ("certificate", "private key"): a regular file
/// of at most [`MAX_PEM_BYTES`] (a FIFO or a device in its place would
/// block the server's start, or its reload thread, or fill the memory).
fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    read_pem_file(path, &format!("TLS {what} file"))
}

/// Reads the PEM file `path`, named `what` ("CA file") in errors.
pub fn read_pem_file(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    read_bounded(path, MAX_PEM_BYTES).map_err(|e| match e {
        BoundedReadError::TooLarge { .. } => format!(
            "the {what} {} is larger than {} MiB: not read (a PEM file is a few KiB)",
            path.display(),
            MAX_PEM_BYTES >> 20
        ),
        other => other.describe(what, path),
    })
}

/// The server identity in `cert` (a PEM chain, leaf first) and `key` (its
/// PEM private key), checked to belong together.
pub fn load_identity(cert: &Path, key: &Path) -> Result<ServerIdentity, String> {
    let (cert_pem, key_pem) = read_pair(cert, key)?;
    identity_from(cert, key, &cert_pem, &key_pem)
}

/// The contents of both files.
fn read_pair(cert: &Path, key: &Path) -> Result<(Vec<u8>, Vec<u8>), String> {
    Ok((read(cert, "certificate")?, read(key, "private key")?))
}

/// The identity in the files' contents; errors name the files.
fn identity_from(
    cert: &Path,
    key: &Path,
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<ServerIdentity, String> {
    let chain = parse_chain(cert_pem).map_err(|e| format!("{} {e}", cert.display()))?;
    let private = parse_key(key_pem).map_err(|e| format!("{} {e}", key.display()))?;
    ServerIdentity::new(chain, private).map_err(|e| match e {
        TlsConfigError::KeyDoesNotMatchCertificate => format!(
            "{} is not the private key of the certificate in {} (the two files do not belong together)",
            key.display(),
            cert.display()
        ),
        TlsConfigError::UnusableKey { reason } => format!(
            "{} holds a private key TLS 1.3 cannot use ({reason}); use an ECDSA P-256/P-384, Ed25519 or RSA key",
            key.display()
        ),
        TlsConfigError::BadCertificate { reason } => {
            format!("{}: the certificate cannot be used ({reason})", cert.display())
        }
        other => format!("{} and {}: {other}", cert.display(), key.display()),
    })
}

/// Writes `bytes` to a new file at `path` (replacing one that exists) that
/// only its owner can read, from the moment it exists.
pub fn private_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    new_file(path, bytes, 0o600)
}

/// Writes `bytes` to a new file at `path` with permissions `mode` (Unix;
/// a stricter umask still applies), replacing what was there at once (a
/// reload never sees the file missing or half-written): a file, or a
/// symbolic link, which is never written through (`--out` may be a
/// directory another user can write, who would point cert.pem at a file
/// of root's for this to overwrite).
///
/// A file replaced keeps its owner and group (Unix): `sudo faxnotify tls
/// self-signed --force` on the key of a server that runs as its own user
/// must not hand the key to root, mode 0600, which the server could then no
/// longer read (it would keep the old certificate, and not start again).
pub fn new_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    faxnotify_textfile::replace(path, bytes, mode).map_err(|e| match e {
        faxnotify_textfile::ReplaceError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    })
}

/// What a check saw: a hash of both files' contents, or why they could not
/// be read. A change is a change of the contents, not of sizes and
/// modification times (as for the users file, `users_reload`): an edit in
/// place within the file system's timestamp granularity is still seen.
type Seen = Result<[u8; 32], String>;

fn seen(read: &Result<(Vec<u8>, Vec<u8>), String>) -> Seen {
    match read {
        Ok((cert, key)) => {
            let mut hash = Sha256::new();
            // The length keeps "ab" + "c" apart from "a" + "bc".
            hash.update((cert.len() as u64).to_be_bytes());
            hash.update(cert);
            hash.update(key);
            Ok(hash.finalize().into())
        }
        Err(e) => Err(e.clone()),
    }
}

/// The server's `--tls-cert` and `--tls-key`, watched for changes. Checks
/// read both files: run them on a thread that may block (the reload
/// thread, `users_reload`), never on the one that drains the runtime.
#[derive(Debug)]
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    seen: Seen,
}

impl TlsFiles {
    /// Loads the identity (a failure stops the server from starting) and
    /// remembers the files' contents.
    pub fn load(cert: PathBuf, key: PathBuf) -> Result<(Self, ServerIdentity), String> {
        let read = read_pair(&cert, &key);
        let seen = seen(&read);
        let (cert_pem, key_pem) = read?;
        let identity = identity_from(&cert, &key, &cert_pem, &key_pem)?;
        if let Some(leaf) = identity.chain().first() {
            warn_if_out_of_dates(&cert, leaf);
        }
        Ok((Self { cert, key, seen }, identity))
    }

    /// The certificate file.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// `None` while neither file changed; after a change, the new identity
    /// or why it cannot be used (the caller keeps the old one). A failed
    /// change is reported once: the next report comes with the next change
    /// (e.g. the key copied in after the certificate).
    pub fn reload_if_changed(&mut self) -> Option<Result<ServerIdentity, String>> {
        let read = read_pair(&self.cert, &self.key);
        let now = seen(&read);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        Some(read.and_then(|(cert_pem, key_pem)| {
            let identity = identity_from(&self.cert, &self.key, &cert_pem, &key_pem)?;
            // Every client would refuse it: the one in service may still
            // be good. (One not valid yet is taken: it will be, and the
            // file may not change again.)
            match identity
                .chain()
                .first()
                .and_then(|leaf| expired_on(leaf, OffsetDateTime::now_utc()))
            {
                Some(on) => Err(format!(
                    "the new certificate in {} expired on {on}: every client would refuse it",
                    self.cert.display()
                )),
                None => Ok(identity),
            }
        }))
    }

    /// Puts changed files into service on `server`, or logs why not (the
    /// server keeps the certificate it has). Blocks on file reads and on
    /// the runtime's answer.
    pub fn reload(&mut self, server: &dyn ServerOps) {
        let Some(loaded) = self.reload_if_changed() else {
            return;
        };
        let leaf = loaded
            .as_ref()
            .ok()
            .and_then(|identity| identity.chain().first().cloned());
        match loaded.and_then(|identity| server.set_tls_identity(identity)) {
            Ok(()) => {
                tracing::info!(
                    "TLS certificate reloaded from {}: new connections use it, established ones keep theirs",
                    self.cert.display()
                );
                if let Some(leaf) = leaf {
                    warn_if_out_of_dates(&self.cert, &leaf);
                }
            }
            Err(why) => {
                tracing::warn!("TLS certificate not reloaded (keeping the old one): {why}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use faxnotify_core::tls::pin::Fingerprint;

    use super::*;

    fn pair(name: &str) -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec![name.to_owned()]).expect("rcgen");
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    /// A matching certificate and key written to `cert.pem` and `key.pem`
    /// in `dir`: their paths.
    fn written_pair(dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = pair("fax.example.org");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        fs::write(&cert_path, &cert).expect("write");
        fs::write(&key_path, &key).expect("write");
        (cert_path, key_path)
    }

    fn leaf(identity: &ServerIdentity) -> Fingerprint {
        Fingerprint::of(&identity.chain()[0])
    }

    fn fingerprint_of(pem: &str) -> Fingerprint {
        Fingerprint::of(&parse_chain(pem.as_bytes()).expect("chain")[0])
    }

    /// Replaces a file the way deployment tools do: a new file renamed over it.
    fn replace(path: &Path, text: &str) {
        let tmp = path.with_extension("new");
        fs::write(&tmp, text).expect("write");
        fs::rename(&tmp, path).expect("rename");
    }

    #[test]
    fn a_matching_pair_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = pair("fax.example.org");
        fs::write(dir.path().join("cert.pem"), &cert).expect("write");
        fs::write(dir.path().join("key.pem"), &key).expect("write");
        let identity = load_identity(&dir.path().join("cert.pem"), &dir.path().join("key.pem"))
            .expect("loads");
        assert_eq!(leaf(&identity), fingerprint_of(&cert));
    }

    #[test]
    fn swapped_files_name_the_file_and_what_it_holds() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_path, key_path) = written_pair(dir.path());
        assert_eq!(
            load_identity(&cert_path, &cert_path).err(),
            Some(format!(
                "{} holds no private key (found: CERTIFICATE)",
                cert_path.display()
            ))
        );
        assert_eq!(
            load_identity(&key_path, &key_path).err(),
            Some(format!(
                "{} holds no certificate (found: PRIVATE KEY)",
                key_path.display()
            ))
        );
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = pair("fax.example.org");
        let (_, other_key) = pair("fax.example.org");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        fs::write(&cert_path, &cert).expect("write");
        fs::write(&key_path, &other_key).expect("write");
        assert_eq!(
            load_identity(&cert_path, &key_path).err(),
            Some(format!(
                "{} is not the private key of the certificate in {} (the two files do not belong together)",
                key_path.display(),
                cert_path.display()
            ))
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.pem");
        let err = load_identity(&missing, &missing).expect_err("missing");
        assert!(
            err.starts_with(&format!(
                "cannot read the TLS certificate file {}: ",
                missing.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_fifo_a_device_or_a_huge_file_is_refused_without_being_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_path, key_path) = written_pair(dir.path());
        // Reading a FIFO with no writer would wait for ever; /dev/zero
        // would fill the memory.
        let fifo = dir.path().join("fifo.pem");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        for odd in [fifo.as_path(), Path::new("/dev/zero")] {
            assert_eq!(
                load_identity(&cert_path, odd).err(),
                Some(format!(
                    "the TLS private key file {} is not a regular file (a FIFO, a device or a \
                     directory): not read",
                    odd.display()
                ))
            );
        }
        let huge = dir.path().join("huge.pem");
        fs::File::create(&huge)
            .and_then(|f| f.set_len(2 << 20))
            .expect("a sparse file");
        assert_eq!(
            load_identity(&huge, &key_path).err(),
            Some(format!(
                "the TLS certificate file {} is larger than 1 MiB: not read (a PEM file is a few KiB)",
                huge.display()
            ))
        );
    }

    #[test]
    fn a_change_reloads_and_a_bad_change_is_reported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        let (cert1, key1) = pair("fax.example.org");
        fs::write(&cert_path, &cert1).expect("write");
        fs::write(&key_path, &key1).expect("write");
        let (mut files, first) =
            TlsFiles::load(cert_path.clone(), key_path.clone()).expect("loads");
        assert_eq!(leaf(&first), fingerprint_of(&cert1));
        assert!(files.reload_if_changed().is_none(), "nothing changed");

        // The new certificate arrives before its key: refused, said once.
        let (cert2, key2) = pair("fax.example.org");
        replace(&cert_path, &cert2);
        let refused = files.reload_if_changed().expect("a change");
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("do not belong together")),
            "{refused:?}"
        );
        assert!(files.reload_if_changed().is_none(), "reported once");

        // Then the key: the new identity.
        replace(&key_path, &key2);
        let second = files.reload_if_changed().expect("a change").expect("loads");
        assert_eq!(leaf(&second), fingerprint_of(&cert2));
        assert!(files.reload_if_changed().is_none());
    }

    #[test]
    fn a_new_certificate_that_expired_keeps_the_old_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_path, key_path) = written_pair(dir.path());
        let (mut files, _) = TlsFiles::load(cert_path.clone(), key_path.clone()).expect("loads");
        // An old certificate put back by mistake: the same key, long expired.
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["fax.example.org".to_owned()]).expect("params");
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(400);
        params.not_after = OffsetDateTime::now_utc() - time::Duration::days(35);
        let expired = params.self_signed(&key).expect("cert");
        replace(&key_path, &key.serialize_pem());
        replace(&cert_path, &expired.pem());
        let refused = files.reload_if_changed().expect("a change");
        assert!(
            refused.as_ref().is_err_and(|e| e.contains(&format!(
                "the new certificate in {} expired on",
                cert_path.display()
            )) && e.ends_with("every client would refuse it")),
            "{refused:?}"
        );
        assert!(files.reload_if_changed().is_none(), "reported once");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        fs::write(&path, "old").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        private_file(&path, b"secret").expect("write");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).expect("read"), b"secret");
    }

    /// `sudo faxnotify tls self-signed --force` on the key of a server that
    /// runs as its own user: the new key stays that user's (before, it was
    /// root's, and the server could not read it). Needs root to hand the
    /// file to another user.
    #[cfg(unix)]
    #[test]
    fn a_replaced_private_file_keeps_its_owner_and_group() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        private_file(&path, b"old").expect("write");
        let (uid, gid) = (65534, 65533);
        match std::os::unix::fs::chown(&path, Some(uid), Some(gid)) {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!("not run: only root can give the file to another user");
                return;
            }
            other => other.expect("chown"),
        }
        private_file(&path, b"new").expect("write");
        let meta = fs::metadata(&path).expect("meta");
        assert_eq!((meta.uid(), meta.gid()), (uid, gid));
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&path).expect("read"), b"new");
    }
}
