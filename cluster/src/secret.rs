//! The cluster secret: one 32-byte file every server of the cluster holds.

use std::fmt;
use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use hmac::Hmac;
use sha2::Sha256;

/// HKDF info of the session-record key; a new record format gets a new
/// label, so keys never cross formats.
const RECORD_KEY_INFO: &[u8] = b"faxnotify cluster session record v1";
/// HKDF info of the reports' MAC key: another label than the records', so
/// the two keys are independent.
const REPORT_KEY_INFO: &[u8] = b"faxnotify cluster report mac v1";
/// HKDF info of the key that makes de-duplication ids unpredictable.
const ID_KEY_INFO: &[u8] = b"faxnotify cluster dedup id v1";
/// HKDF info of the key that hides user names in the bucket's index keys.
const USER_KEY_INFO: &[u8] = b"faxnotify cluster user index v1";

/// The cluster secret, kept only as the keys derived from it.
///
/// The secret seals session records at rest in the bucket
/// ([`SessionRecord`](crate::SessionRecord)): whoever can read the bucket
/// but lacks the secret cannot read or forge a record. Records hold no key
/// material (a resume is a full login with a fresh session key), so the
/// secret protects user names and session ownership, not credentials.
///
/// It also authenticates delivery reports ([`Report`](crate::Report)): a
/// report without a valid MAC is refused, so whoever can publish on the
/// bus but lacks the secret cannot tell `notify --wait` a lie.
#[derive(Clone)]
pub struct ClusterSecret {
    record_key: [u8; 32],
    /// HMACs keyed once: keying hashes the key's two pads, as much SHA-256
    /// work as a short message's MAC itself, and a server computes one per
    /// report and per publish.
    report_mac: Hmac<Sha256>,
    id_mac: Hmac<Sha256>,
    user_mac: Hmac<Sha256>,
}

impl ClusterSecret {
    /// The secret from its 32 bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, secret);
        let mut record_key = [0u8; 32];
        let mut report_key = [0u8; 32];
        let mut id_key = [0u8; 32];
        let mut user_key = [0u8; 32];
        for (info, key) in [
            (RECORD_KEY_INFO, &mut record_key),
            (REPORT_KEY_INFO, &mut report_key),
            (ID_KEY_INFO, &mut id_key),
            (USER_KEY_INFO, &mut user_key),
        ] {
            hkdf.expand(info, key)
                .expect("32 bytes is a valid HKDF-SHA256 output length");
        }
        Self {
            record_key,
            report_mac: keyed(&report_key),
            id_mac: keyed(&id_key),
            user_mac: keyed(&user_key),
        }
    }

    /// Reads the secret file: exactly 32 bytes, readable by its owner only
    /// (as the users file), so a copy left world-readable is refused rather
    /// than used.
    pub fn read_file(path: &Path) -> Result<Self, SecretError> {
        let io = |err: std::io::Error| SecretError::Unreadable {
            path: path.to_owned(),
            reason: err.to_string(),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SecretError::TooOpen {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let bytes = std::fs::read(path).map_err(io)?;
        let secret: [u8; 32] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| SecretError::WrongLength {
                    path: path.to_owned(),
                    len: bytes.len(),
                })?;
        Ok(Self::from_bytes(&secret))
    }

    /// The XChaCha20-Poly1305 key of session records.
    pub(crate) fn record_key(&self) -> &[u8; 32] {
        &self.record_key
    }

    /// The HMAC-SHA256 key of delivery reports.
    /// A MAC of reports, keyed with the reports' key.
    pub(crate) fn report_mac(&self) -> Hmac<Sha256> {
        self.report_mac.clone()
    }

    /// 16 hex digits only holders of the secret can compute, for the
    /// de-duplication ids (`Nats-Msg-Id`) of publishes: JetStream drops a
    /// message whose id it saw within the window, so whoever may publish
    /// on the bus and could guess a server's next id could store a message
    /// of theirs under it first, and the server's own would be dropped as
    /// a "duplicate" while acknowledged.
    pub(crate) fn id_tag(&self, parts: &[&[u8]]) -> String {
        use hmac::Mac as _;
        let mut mac = self.id_mac.clone();
        for part in parts {
            // Length-prefixed, so the parts cannot run into each other.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// 32 hex digits naming `user` (prepared) in the sessions bucket's
    /// index keys: records are sealed so that whoever reads the bucket
    /// without the secret learns no user names, and a key in clear would
    /// give them away. 128 bits, so two users of one cluster never share
    /// a tag by chance.
    pub(crate) fn user_tag(&self, user: &str) -> String {
        use hmac::Mac as _;
        let mut mac = self.user_mac.clone();
        mac.update(user.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

fn keyed(key: &[u8; 32]) -> Hmac<Sha256> {
    use hmac::KeyInit as _;
    Hmac::new_from_slice(key).expect("HMAC takes a key of any length")
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(..)")
    }
}

/// Why the cluster secret file cannot be used.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file cannot be read.
    #[error("cannot read the cluster secret {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// Not exactly 32 bytes.
    #[error(
        "the cluster secret {} is {len} bytes long; it must be exactly 32 (e.g. head -c 32 /dev/urandom)",
        path.display()
    )]
    WrongLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Readable or writable by others than its owner.
    #[error(
        "the cluster secret {} has mode {mode:o}; others must not read it (chmod 600)",
        path.display()
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_key_is_derived_not_the_secret_itself() {
        let a = ClusterSecret::from_bytes(&[7; 32]);
        let b = ClusterSecret::from_bytes(&[8; 32]);
        assert_ne!(a.record_key(), &[7; 32]);
        assert_ne!(a.record_key(), b.record_key());
        // The three keys differ: their MACs of one message do.
        let of = |mut mac: Hmac<Sha256>| {
            use hmac::Mac as _;
            mac.update(b"message");
            mac.finalize().into_bytes()
        };
        assert_ne!(of(a.report_mac()), of(keyed(a.record_key())));
        assert_ne!(of(a.report_mac()), of(a.id_mac.clone()));
        assert_ne!(of(a.report_mac()), of(b.report_mac()));
        let tag = a.id_tag(&[b"log", &[1]]);
        assert_eq!(tag.len(), 16);
        assert_eq!(tag, a.id_tag(&[b"log", &[1]]));
        assert_ne!(tag, a.id_tag(&[b"log", &[2]]));
        assert_ne!(tag, a.id_tag(&[b"lo", b"g\x01"]));
        assert_ne!(tag, b.id_tag(&[b"log", &[1]]));
        let user = a.user_tag("alice");
        assert_eq!(user.len(), 32);
        assert!(!user.contains(&hex::encode("alice")));
        assert_ne!(user, a.user_tag("bob"));
        assert_ne!(user, b.user_tag("alice"));
        assert_ne!(of(a.user_mac.clone()), of(a.id_mac.clone()));
        assert_eq!(
            a.record_key(),
            ClusterSecret::from_bytes(&[7; 32]).record_key()
        );
        assert_eq!(format!("{a:?}"), "ClusterSecret(..)");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_must_be_private_and_32_bytes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("faxnotify-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, [1u8; 32]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ClusterSecret::read_file(&path).unwrap_err();
        assert!(
            matches!(err, SecretError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let secret = ClusterSecret::read_file(&path).unwrap();
        assert_eq!(
            secret.record_key(),
            ClusterSecret::from_bytes(&[1; 32]).record_key()
        );
        std::fs::write(&path, [1u8; 31]).unwrap();
        let err = ClusterSecret::read_file(&path).unwrap_err();
        assert!(err.to_string().contains("is 31 bytes long"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tags_and_macs_are_plain_hkdf_and_hmac_sha256() {
        // Servers of different versions share one bus: these values are
        // RFC 5869 HKDF-SHA256 and RFC 2104 HMAC-SHA256 as any other
        // implementation computes them (here Python's hmac and hashlib).
        let a = ClusterSecret::from_bytes(&[7; 32]);
        assert_eq!(a.id_tag(&[b"log", &[1]]), "f68cf841e8b6e4f2");
        assert_eq!(a.user_tag("alice"), "4927dc3479548a2334182f4423686150");
        let mut mac = a.report_mac();
        hmac::Mac::update(&mut mac, b"message");
        assert_eq!(
            hex::encode(hmac::Mac::finalize(mac).into_bytes()),
            "9190257cb9c216a597f21308dae07a8f5d96c29da4aefb5d5de89cf13d334e1d"
        );
    }
}
