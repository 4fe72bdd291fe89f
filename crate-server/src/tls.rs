//! Loading the PEM certificate chain and key for `--tls-cert`/`--tls-key`.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

fn invalid(path: &Path, what: &str, err: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{}: {what}: {err}", path.display()),
    )
}

/// A TLS acceptor for the PEM files at `cert` and `key`, with errors naming the file.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> io::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|err| invalid(cert, "cannot read the certificate chain", err))?
        .collect::<Result<_, _>>()
        .map_err(|err| invalid(cert, "not a PEM certificate chain", err))?;
    if certs.is_empty() {
        return Err(invalid(
            cert,
            "no certificate",
            "the file holds no CERTIFICATE block",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| invalid(key, "not a PEM private key", err))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| io::Error::other(err.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| invalid(cert, "the certificate and key do not fit together", err))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
