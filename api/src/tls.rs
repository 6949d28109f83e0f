//! HTTPS for the API from PEM files (`MAILROOM_TLS_CERT`, `MAILROOM_TLS_KEY`).

use mailroom_domain::config::TlsFiles;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub fn server_config(files: &TlsFiles) -> anyhow::Result<ServerConfig> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", files.cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", files.cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        anyhow::anyhow!(
            "cannot read a private key from {}: {e}",
            files.key.display()
        )
    })?;
    ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow::anyhow!("TLS configuration: {e}"))
}
