//! A man in the middle that terminates TLS with a certificate the fax
//! client trusts (same CA, same name) and opens its own TLS connection to
//! the real server, relaying plaintext both ways unchanged. Channel
//! binding must make the proofs fail through it [T-6] [T-7].

use std::io::{Read, Write};
use std::sync::Arc;

use faxnotify_core::tls::{CertificateDer, PrivateKeyDer};
use faxnotify_testkit::{Middlebox, Relayed};
use rustls::pki_types::ServerName;

pub struct Relay {
    /// Faces the fax client: the relay is its TLS server.
    to_client: rustls::ServerConnection,
    /// Faces the fax server: the relay is its TLS client.
    to_server: rustls::ClientConnection,
}

impl Relay {
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        server_roots: &[CertificateDer<'static>],
        server_name: &str,
    ) -> Self {
        let server_config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(server_roots.iter().cloned());
        let client_config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            to_client: rustls::ServerConnection::new(Arc::new(server_config)).unwrap(),
            to_server: rustls::ClientConnection::new(
                Arc::new(client_config),
                ServerName::try_from(server_name.to_owned()).unwrap(),
            )
            .unwrap(),
        }
    }

    fn outputs(&mut self) -> Relayed {
        let mut to_client = Vec::new();
        while self.to_client.wants_write() {
            self.to_client.write_tls(&mut to_client).unwrap();
        }
        let mut to_server = Vec::new();
        while self.to_server.wants_write() {
            self.to_server.write_tls(&mut to_server).unwrap();
        }
        Relayed {
            to_client,
            to_server,
        }
    }
}

impl Middlebox for Relay {
    /// The relay's first flight toward the server (its ClientHello).
    fn open(&mut self) -> Relayed {
        self.outputs()
    }

    fn client_sent(&mut self, mut data: &[u8]) -> Relayed {
        while !data.is_empty() {
            self.to_client.read_tls(&mut data).unwrap();
            self.to_client.process_new_packets().unwrap();
        }
        let mut plain = Vec::new();
        let _ = self.to_client.reader().read_to_end(&mut plain);
        self.to_server.writer().write_all(&plain).unwrap();
        self.outputs()
    }

    fn server_sent(&mut self, mut data: &[u8]) -> Relayed {
        while !data.is_empty() {
            self.to_server.read_tls(&mut data).unwrap();
            self.to_server.process_new_packets().unwrap();
        }
        let mut plain = Vec::new();
        let _ = self.to_server.reader().read_to_end(&mut plain);
        self.to_client.writer().write_all(&plain).unwrap();
        self.outputs()
    }
}
