//! FNP/1 over TLS in the simulator: the fixed certificates the simulated
//! server presents and its clients trust, and what the wiretap can still
//! check on a connection whose frames it cannot read.
//!
//! The material is fixed (`pki/`, see its README) rather than generated per
//! run: generating keys would draw from the OS, and a run must follow from
//! its seed alone. The cores' TLS sessions draw every random byte from their
//! own seeded streams, and rustls reads only the [`FixedClock`] given here,
//! so a TLS run is as reproducible as a plain one.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use faxnotify_core::tls::{
    CertificateDer, ClientTls, FixedClock, ServerIdentity, TimeProvider, Trust, UnixTime, pem, pin,
};

/// The name the simulated server's certificate carries (and clients verify).
pub const SERVER_NAME: &str = "fax.sim.test";

/// 2030-01-01T00:00:00Z: inside the certificates' validity.
const WALL_CLOCK_SECS: u64 = 1_893_456_000;

struct Pki {
    ca: CertificateDer<'static>,
    identity: ServerIdentity,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut ca = pem::parse_chain(include_bytes!("pki/ca.pem")).expect("the simulator's CA");
        let chain = pem::parse_chain(include_bytes!("pki/server.pem")).expect("its certificate");
        let key = pem::parse_key(include_bytes!("pki/server.key")).expect("its key");
        Pki {
            ca: ca.remove(0),
            identity: ServerIdentity::new(chain, key).expect("a matching certificate and key"),
        }
    })
}

/// The wall clock every TLS session of a run reads (certificate validity).
pub fn wall_clock() -> Arc<dyn TimeProvider> {
    Arc::new(FixedClock(UnixTime::since_unix_epoch(Duration::from_secs(
        WALL_CLOCK_SECS,
    ))))
}

/// The simulated server's identity.
pub fn server_identity() -> ServerIdentity {
    pki().identity.clone()
}

/// A client's TLS settings: it trusts the server through the CA, or by
/// pinning the server certificate's fingerprint (`pinned`).
pub fn client_tls(pinned: bool) -> ClientTls {
    let trust = if pinned {
        Trust::PinnedSha256(pin::fingerprint(&pki().identity.chain()[0]))
    } else {
        Trust::Roots(vec![pki().ca.clone()])
    };
    ClientTls {
        server_name: SERVER_NAME.to_owned(),
        trust,
    }
}

/// The largest record TLS 1.3 allows on the wire (RFC 8446 section 5.2:
/// 2^14 bytes of plaintext plus up to 256 of expansion).
const MAX_RECORD: usize = (1 << 14) + 256;

/// What the wiretap checks of a `Transmit` on a TLS connection, where it
/// cannot read the frames: that it is whole TLS records (the adapter
/// contract's "whole frames", one layer down), each of a known content type
/// and legal length. The frames inside are vouched for by the ledger, which
/// sees them as the cores' events.
pub fn whole_records(data: &[u8]) -> Result<usize, String> {
    if data.is_empty() {
        return Err("an empty Transmit".to_owned());
    }
    let mut rest = data;
    let mut records = 0;
    while !rest.is_empty() {
        let [kind, major, minor, hi, lo, body @ ..] = rest else {
            return Err(format!(
                "a TLS Transmit ends in a partial record header ({} bytes)",
                rest.len()
            ));
        };
        // change_cipher_spec, alert, handshake, application_data.
        if !(20..=23).contains(kind) {
            return Err(format!("a TLS record of unknown content type {kind}"));
        }
        // Legacy record versions: 0x0301 on a first ClientHello, else 0x0303.
        if *major != 3 || !(1..=3).contains(minor) {
            return Err(format!("a TLS record with version {major}.{minor}"));
        }
        let len = usize::from(*hi) << 8 | usize::from(*lo);
        if len == 0 && *kind != 23 {
            return Err(format!("an empty TLS record of type {kind}"));
        }
        if len > MAX_RECORD {
            return Err(format!(
                "a TLS record of {len} bytes (at most {MAX_RECORD})"
            ));
        }
        if body.len() < len {
            return Err(format!(
                "a TLS Transmit ends in a partial record ({} of {len} bytes)",
                body.len()
            ));
        }
        rest = &body[len..];
        records += 1;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_material_loads_and_both_trust_modes_are_accepted_by_the_core() {
        let identity = server_identity();
        assert_eq!(identity.chain().len(), 1);
        for pinned in [false, true] {
            let tls = client_tls(pinned);
            assert_eq!(tls.server_name, SERVER_NAME);
            assert_eq!(matches!(tls.trust, Trust::PinnedSha256(_)), pinned);
        }
    }

    #[test]
    fn whole_records_accepts_records_and_refuses_fragments() {
        let record = [23, 3, 3, 0, 2, 0xaa, 0xbb];
        assert_eq!(whole_records(&record), Ok(1));
        assert_eq!(whole_records(&[record, record].concat()), Ok(2));
        assert!(
            whole_records(&record[..6])
                .unwrap_err()
                .contains("partial record")
        );
        assert!(whole_records(&record[..3]).unwrap_err().contains("header"));
        assert!(
            whole_records(&[24, 3, 3, 0, 1, 0])
                .unwrap_err()
                .contains("type")
        );
        assert!(
            whole_records(&[22, 2, 0, 0, 1, 0])
                .unwrap_err()
                .contains("version")
        );
        assert!(whole_records(&[]).is_err());
        // A plain FNP/1 frame is not a record.
        assert!(whole_records(&[0, 0, 0, 1, 0x10]).is_err());
    }
}
