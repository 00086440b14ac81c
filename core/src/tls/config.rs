//! rustls configurations built from the cores' TLS settings: TLS 1.3 only,
//! the seeded provider, no resumption (a session ticket would be state the
//! simulator cannot see, and a resumed handshake has no certificate to
//! verify on the callback), no client certificates.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::time_provider::TimeProvider;

use super::pin::PinnedVerifier;
use super::provider::provider;
use super::{ClientTls, ServerIdentity, TlsConfigError, Trust};

/// Our records carry at most this much plaintext: every FNP/1 frame fits
/// in four, and smaller records keep rustls's receive buffer small on the
/// peer (see docs/architecture.md, memory).
const MAX_FRAGMENT: usize = 16 * 1024;

/// What a client core needs to start TLS sessions.
#[derive(Debug, Clone)]
pub(crate) struct ClientTlsConfig {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) server_name: ServerName<'static>,
}

impl ClientTlsConfig {
    pub(crate) fn new(
        tls: &ClientTls,
        clock: Arc<dyn TimeProvider>,
    ) -> Result<Self, TlsConfigError> {
        let server_name = ServerName::try_from(tls.server_name.clone()).map_err(|_| {
            TlsConfigError::BadServerName {
                name: tls.server_name.clone(),
            }
        })?;
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_details(Arc::clone(&provider), clock)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| TlsConfigError::NoUsableRoots {
                reason: e.to_string(),
            })?;
        let mut config = match &tls.trust {
            Trust::Roots(roots) => {
                let mut store = rustls::RootCertStore::empty();
                let (added, _ignored) = store.add_parsable_certificates(roots.iter().cloned());
                if added == 0 {
                    return Err(TlsConfigError::NoUsableRoots {
                        reason: format!(
                            "none of the {} certificates given is a usable root",
                            roots.len()
                        ),
                    });
                }
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
                        .build()
                        .map_err(|e| TlsConfigError::NoUsableRoots {
                            reason: e.to_string(),
                        })?;
                builder.with_webpki_verifier(verifier).with_no_client_auth()
            }
            Trust::PinnedSha256(pin) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(PinnedVerifier::new(*pin, provider)))
                .with_no_client_auth(),
        };
        config.resumption = rustls::client::Resumption::disabled();
        config.max_fragment_size = Some(MAX_FRAGMENT);
        Ok(Self {
            config: Arc::new(config),
            server_name,
        })
    }
}

/// Always presents the one identity.
#[derive(Debug)]
struct OneIdentity(Arc<CertifiedKey>);

impl ResolvesServerCert for OneIdentity {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// The server's rustls configuration for an identity.
pub(crate) fn server_config(
    identity: &ServerIdentity,
    clock: Arc<dyn TimeProvider>,
) -> Arc<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_details(provider(), clock)
        .with_protocol_versions(&[&rustls::version::TLS13]);
    // The provider has TLS 1.3 suites, so this cannot fail; keep the
    // signature total anyway by falling back to the safe defaults.
    let builder = match builder {
        Ok(b) => b,
        Err(_) => unreachable!("the provider has TLS 1.3 cipher suites"),
    };
    let mut config = builder
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneIdentity(Arc::clone(&identity.key))));
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.max_fragment_size = Some(MAX_FRAGMENT);
    Arc::new(config)
}
