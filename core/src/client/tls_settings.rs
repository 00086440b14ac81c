//! The client's TLS settings as the settings file writes them: whom to
//! trust and the name the server's certificate must carry.
//!
//! These are descriptions (a CA file's path, not its certificates): loading
//! roots is I/O, which the application does when it turns them into a
//! [`crate::tls::ClientTls`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rustls::pki_types::ServerName;

use crate::tls::pin::{Fingerprint, FingerprintParseError};

/// How a client decides to trust the fax server (`[tls] trust`).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub enum TlsTrust {
    /// `off`: no TLS, plain TCP. Nothing is encrypted: only for loopback,
    /// tests and servers that predate TLS. The default, so that settings
    /// files written before TLS existed keep meaning what they meant.
    #[default]
    Off,
    /// `system`: a chain to one of the operating system's trusted roots
    /// (a certificate from a public or company CA installed on the host).
    System,
    /// `ca:PATH`: a chain to one of the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// `pin:sha256:AB:CD:…`: exactly the certificate with this fingerprint
    /// (a self-signed server, `faxnotify tls self-signed`).
    Pinned(Fingerprint),
}

impl TlsTrust {
    /// Whether the client speaks TLS at all.
    pub fn is_tls(&self) -> bool {
        !matches!(self, TlsTrust::Off)
    }
}

impl fmt::Display for TlsTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsTrust::Off => f.write_str("off"),
            TlsTrust::System => f.write_str("system"),
            TlsTrust::CaFile(path) => write!(f, "ca:{}", path.display()),
            TlsTrust::Pinned(fingerprint) => write!(f, "pin:{fingerprint}"),
        }
    }
}

/// Why a TLS setting is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSettingError {
    /// Not one of the forms `trust` takes.
    #[error(
        "{text:?} is not a trust setting: use \"system\", \"ca:/path/to/ca.pem\", \
         \"pin:sha256:AB:CD:...\" or \"off\""
    )]
    UnknownTrust {
        /// The text given.
        text: String,
    },
    /// `ca:` with no path.
    #[error(
        "\"ca:\" needs the path of a PEM file of CA certificates, e.g. \"ca:/etc/faxnotify/ca.pem\""
    )]
    EmptyCaPath,
    /// `pin:` with something that is not a fingerprint.
    #[error(transparent)]
    BadPin(#[from] FingerprintParseError),
    /// The server name is neither a DNS name nor an IP address.
    #[error("{name:?} is not a server name a certificate can carry (a DNS name or an IP address)")]
    BadServerName {
        /// The name given.
        name: String,
    },
}

impl FromStr for TlsTrust {
    type Err = TlsSettingError;

    /// Parses `off`, `system`, `ca:PATH` or `pin:FINGERPRINT` (the
    /// fingerprint in any form [`Fingerprint`] reads).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "off" => return Ok(TlsTrust::Off),
            "system" => return Ok(TlsTrust::System),
            _ => {}
        }
        if let Some(path) = text.strip_prefix("ca:") {
            if path.trim().is_empty() {
                return Err(TlsSettingError::EmptyCaPath);
            }
            return Ok(TlsTrust::CaFile(PathBuf::from(path.trim())));
        }
        if let Some(pin) = text.strip_prefix("pin:") {
            return Ok(TlsTrust::Pinned(pin.parse()?));
        }
        Err(TlsSettingError::UnknownTrust {
            text: text.to_owned(),
        })
    }
}

/// The `[tls]` table of the settings file.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct TlsSettings {
    /// Whom to trust; [`TlsTrust::Off`] for plain TCP.
    pub trust: TlsTrust,
    /// The name the server's certificate must carry, when it is not the
    /// host part of the server's address (e.g. the server is dialled by IP
    /// address but its certificate names `fax.example.org`).
    pub server_name: Option<String>,
}

impl TlsSettings {
    /// Settings with this trust and the server's own host name.
    pub fn new(trust: TlsTrust) -> Self {
        Self {
            trust,
            server_name: None,
        }
    }

    /// Checks the server name, if one is set.
    pub fn validate(&self) -> Result<(), TlsSettingError> {
        match &self.server_name {
            Some(name) => check_server_name(name),
            None => Ok(()),
        }
    }

    /// The name to verify for a server dialled at `server` (`host:port`):
    /// the configured `server_name`, else the host part (IPv6 brackets
    /// removed).
    pub fn name_for(&self, server: &str) -> String {
        if let Some(name) = &self.server_name {
            return name.clone();
        }
        let host = server.rsplit_once(':').map_or(server, |(host, _)| host);
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()
    }
}

/// A DNS name or an IP address literal, as a certificate names it.
pub fn check_server_name(name: &str) -> Result<(), TlsSettingError> {
    ServerName::try_from(name)
        .map(|_| ())
        .map_err(|_| TlsSettingError::BadServerName {
            name: name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIN: &str = "sha256:00:01:0A:AB:CD:EF:10:20:30:40:50:60:70:80:90:A0:B0:C0:D0:E0:F0:FF:01:02:03:04:05:06:07:08:09:99";

    #[test]
    fn every_trust_form_round_trips() {
        for text in [
            "off",
            "system",
            "ca:/etc/faxnotify/ca.pem",
            &format!("pin:{PIN}"),
        ] {
            let trust: TlsTrust = text.parse().expect(text);
            assert_eq!(trust.to_string(), text);
        }
    }

    #[test]
    fn a_pin_may_be_written_as_plain_hex() {
        let plain = PIN["sha256:".len()..].replace(':', "").to_ascii_lowercase();
        assert_eq!(
            format!("pin:{plain}").parse::<TlsTrust>(),
            format!("pin:{PIN}").parse::<TlsTrust>()
        );
    }

    #[test]
    fn bad_trust_settings_say_what_would_be_right() {
        assert_eq!(
            "yes".parse::<TlsTrust>().expect_err("yes").to_string(),
            "\"yes\" is not a trust setting: use \"system\", \"ca:/path/to/ca.pem\", \
             \"pin:sha256:AB:CD:...\" or \"off\""
        );
        assert_eq!("ca:".parse::<TlsTrust>(), Err(TlsSettingError::EmptyCaPath));
        assert!(matches!(
            "pin:sha256:AB".parse::<TlsTrust>(),
            Err(TlsSettingError::BadPin(
                FingerprintParseError::WrongLength { .. }
            ))
        ));
    }

    #[test]
    fn the_name_defaults_to_the_servers_host() {
        let tls = TlsSettings::new(TlsTrust::System);
        assert_eq!(tls.name_for("fax.example.org:4580"), "fax.example.org");
        assert_eq!(tls.name_for("[2001:db8::7]:4580"), "2001:db8::7");
        let named = TlsSettings {
            server_name: Some("fax.example.org".to_owned()),
            ..tls
        };
        assert_eq!(named.name_for("192.0.2.7:4580"), "fax.example.org");
    }

    #[test]
    fn a_server_name_must_be_a_dns_name_or_an_ip_address() {
        for good in ["fax.example.org", "localhost", "192.0.2.7", "2001:db8::7"] {
            assert_eq!(check_server_name(good), Ok(()), "{good}");
        }
        for bad in ["", "fax example", "fax.example.org:4580"] {
            assert!(check_server_name(bad).is_err(), "{bad}");
        }
    }
}
