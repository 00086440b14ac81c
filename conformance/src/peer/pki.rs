//! The certificates the suite presents when it plays the server of a client
//! under test over TLS: one made per run with rcgen, plus the bad ones of the
//! hostile cases (another name, an unknown authority, expired, a stranger's
//! self-signed certificate).

use std::net::IpAddr;

use faxnotify_core::tls::pin::Fingerprint;
use faxnotify_core::tls::{CertificateDer, PrivateKeyDer};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, PKCS_ED25519, date_time_ymd,
};

use super::tls::SuiteTlsServer;

/// The name of the wrong-name certificate (RFC 2606: never a real host).
pub const WRONG_NAME: &str = "not-the-fax-server.invalid";

/// Which certificate the suite presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Presented {
    /// Valid, from the CA the client trusts, for the address it dials.
    Good,
    /// From the trusted CA, but for [`WRONG_NAME`] only.
    WrongName,
    /// For the right names, from a CA the client does not know.
    UnknownCa,
    /// From the trusted CA, for the right names, expired in 2001.
    Expired,
    /// A self-signed certificate for the right names, not the pinned one.
    Impostor,
}

/// The run's certificates.
#[derive(Debug)]
pub struct SuitePki {
    /// The CA the client under test is told to trust (PEM).
    pub ca_pem: String,
    /// The fingerprint of the good certificate (for a client with a pin).
    pub good_fingerprint: Fingerprint,
    good: SuiteTlsServer,
    wrong_name: SuiteTlsServer,
    unknown_ca: SuiteTlsServer,
    expired: SuiteTlsServer,
    impostor: SuiteTlsServer,
}

fn ed25519() -> Result<KeyPair, String> {
    // Ed25519: cheap to make, deterministic signatures.
    KeyPair::generate_for(&PKCS_ED25519).map_err(|e| e.to_string())
}

fn ca(name: &str) -> Result<(String, Issuer<'static, KeyPair>), String> {
    let key = ed25519()?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// A leaf for `names`, signed by `issuer` (self-signed without one).
fn leaf(
    names: &[String],
    issuer: Option<&Issuer<'static, KeyPair>>,
    expired: bool,
) -> Result<(SuiteTlsServer, CertificateDer<'static>), String> {
    let key = ed25519()?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "FNP/1 conformance suite");
    if expired {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    let cert = match issuer {
        Some(issuer) => params.signed_by(&key, issuer),
        None => params.self_signed(&key),
    }
    .map_err(|e| e.to_string())?;
    let der = cert.der().clone();
    let server = SuiteTlsServer::new(
        vec![der.clone()],
        PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )?;
    Ok((server, der))
}

impl SuitePki {
    /// Makes the run's certificates, valid for `listen_ip` (the address the
    /// client under test dials) and `localhost`.
    pub fn new(listen_ip: IpAddr) -> Result<Self, String> {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            listen_ip.to_string(),
        ];
        let (ca_pem, trusted) = ca("FNP/1 conformance suite CA")?;
        let (_, stranger) = ca("FNP/1 conformance stranger CA")?;
        let (good, good_der) = leaf(&names, Some(&trusted), false)?;
        Ok(Self {
            ca_pem,
            good_fingerprint: Fingerprint::of(&good_der),
            good,
            wrong_name: leaf(&[WRONG_NAME.to_owned()], Some(&trusted), false)?.0,
            unknown_ca: leaf(&names, Some(&stranger), false)?.0,
            expired: leaf(&names, Some(&trusted), true)?.0,
            impostor: leaf(&names, None, false)?.0,
        })
    }

    /// The TLS server presenting `which`.
    pub fn server(&self, which: Presented) -> &SuiteTlsServer {
        match which {
            Presented::Good => &self.good,
            Presented::WrongName => &self.wrong_name,
            Presented::UnknownCa => &self.unknown_ca,
            Presented::Expired => &self.expired,
            Presented::Impostor => &self.impostor,
        }
    }
}
