//! Connections to PostgreSQL. The server runs as the least-privilege role `qlink_app`,
//! which can only execute the `qlink.*` functions; migrations run as the owner.
//!
//! A [`Target`] is a parsed database address: the `tokio_postgres` settings plus how far
//! the server's certificate is checked. Connections use TLS as libpq does: `sslmode`
//! `disable`, `prefer` (the default: TLS when the server offers it), `require`, and the two
//! libpq modes tokio-postgres lacks, `verify-ca` (the certificate chains to a trusted CA)
//! and `verify-full` (and names the host). `prefer` and `require` encrypt but, like libpq,
//! check no certificate; production should say `verify-full`. Trusted CAs are the
//! machine's store, or the PEM file named by `sslrootcert`.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::{SslMode, TargetSessionAttrs};
use tokio_postgres_rustls::MakeRustlsConnect;

/// The web role created by the migrations (`qlink serve`).
pub const APP_ROLE: &str = "qlink_app";

/// The message worker's role created by the migrations (outbox and housekeeping only).
pub const WORKER_ROLE: &str = "qlink_worker";
/// The role of WhatsApp's webhook (migration V10): what Meta delivers, nothing else.
pub const WEBHOOK_ROLE: &str = "qlink_webhook";

/// The NOTIFY channel that wakes the message worker.
pub const MESSAGES_CHANNEL: &str = "qlink_messages";

/// How long a request waits for a connection, or for a new one to be made, before it is
/// answered 503: a database that silently drops packets must not hold requests until the
/// request timeout.
const POOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How much of the server's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// `disable`, `prefer`, `require`: no check (encryption against a passive listener only).
    Nothing,
    /// `verify-ca`: the chain ends at a trusted CA; the name is not checked.
    Chain,
    /// `verify-full`: the chain and the host name (or IP address).
    Full,
}

/// A database to connect to: where, as whom, and with what TLS.
#[derive(Clone, Debug)]
pub struct Target {
    pub config: tokio_postgres::Config,
    pub verify: Verify,
    /// `sslrootcert`: a PEM file of trusted CAs instead of the machine's store.
    pub root_cert: Option<PathBuf>,
}

impl From<tokio_postgres::Config> for Target {
    /// Settings built in code (the tests' workers): libpq's defaults, no certificate check.
    fn from(config: tokio_postgres::Config) -> Target {
        Target { config, verify: Verify::Nothing, root_cert: None }
    }
}

impl Target {
    /// Parses a PostgreSQL URL (or key=value string). `name` is the setting it came from,
    /// for the error; the URL may hold a password, so it is never echoed back.
    pub fn parse(url: &str, name: &str) -> anyhow::Result<Target> {
        let (rest, verify, root_cert) =
            take_tls_options(url).map_err(|why| anyhow::anyhow!("{name} is not a valid PostgreSQL URL: {why}"))?;
        let mut config: tokio_postgres::Config =
            rest.parse().map_err(|_| anyhow::anyhow!("{name} is not a valid PostgreSQL URL"))?;
        if verify != Verify::Nothing {
            config.ssl_mode(SslMode::Require);
        }
        if let Some(path) = &root_cert {
            // Read now, so that a wrong path stops the start, not the first connection.
            trusted_roots(Some(path)).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        }
        Ok(Target { config, verify, root_cert })
    }

    /// Only a primary will do (`target_session_attrs=read-write`): with several hosts, the
    /// one that takes writes is found, and found again after a failover.
    pub fn primary(mut self) -> Target {
        self.config.target_session_attrs(TargetSessionAttrs::ReadWrite);
        self
    }

    pub fn user(mut self, user: &str) -> Target {
        self.config.user(user);
        self
    }

    /// The TLS connector for this target's policy.
    pub fn tls(&self) -> anyhow::Result<MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder =
            rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let config = match self.verify {
            Verify::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                .with_no_client_auth(),
            Verify::Chain | Verify::Full => {
                let roots = Arc::new(trusted_roots(self.root_cert.as_deref())?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider).build()?;
                if self.verify == Verify::Full {
                    builder.with_webpki_verifier(webpki).with_no_client_auth()
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                        .with_no_client_auth()
                }
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    /// Connects one client outside any pool (the worker's LISTEN connection, migrations,
    /// CLI commands); the connection is driven on its own task.
    pub async fn connect(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) = self.config.connect(self.tls()?).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "database connection closed");
            }
        });
        Ok(client)
    }
}

/// Takes `sslmode` and `sslrootcert` out of a URL's query (tokio-postgres knows neither
/// `verify-*` nor `sslrootcert`); `disable`/`prefer`/`require` are put back for it.
fn take_tls_options(url: &str) -> Result<(String, Verify, Option<PathBuf>), &'static str> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Verify::Nothing, None));
    };
    let mut verify = Verify::Nothing;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => match value {
                "verify-ca" => verify = Verify::Chain,
                "verify-full" => verify = Verify::Full,
                "disable" | "prefer" | "require" => kept.push(pair),
                _ => return Err("sslmode must be disable, prefer, require, verify-ca or verify-full"),
            },
            "sslrootcert" => {
                let path = percent_decode(value).ok_or("sslrootcert is not a valid path")?;
                root_cert = Some(PathBuf::from(path));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
    Ok((rest, verify, root_cert))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn trusted_roots(file: Option<&Path>) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    match file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<_, _>>())
                .map_err(|e| anyhow::anyhow!("sslrootcert {}: {e}", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("sslrootcert {} holds no certificate", path.display());
            }
            for cert in certs {
                roots.add(cert).map_err(|e| anyhow::anyhow!("sslrootcert {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                anyhow::bail!(
                    "no trusted CA certificates on this machine (install ca-certificates, or set sslrootcert)"
                );
            }
        }
    }
    Ok(roots)
}

/// `prefer` / `require`: any certificate is taken, but the handshake's signatures are
/// still checked, so the session is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the web PKI check, except that the name may differ.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

pub fn pool(target: impl Into<Target>, size: usize) -> anyhow::Result<Pool> {
    let target = target.into();
    let tls = target.tls()?;
    let mut config = target.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(POOL_TIMEOUT);
    }
    let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(POOL_TIMEOUT))
        .create_timeout(Some(POOL_TIMEOUT))
        .recycle_timeout(Some(POOL_TIMEOUT))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_the_root_file_leave_the_url_and_the_rest_stays() {
        let (rest, verify, root) = take_tls_options(
            "postgres://u:p@db1:5432,db2:5433/qlink?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u:p@db1:5432,db2:5433/qlink?application_name=x");
        assert_eq!(verify, Verify::Full);
        assert_eq!(root, Some(PathBuf::from("/etc/ca.pem")));
        let (rest, verify, _) = take_tls_options("postgres://h/qlink?sslmode=require").unwrap();
        assert_eq!((rest.as_str(), verify), ("postgres://h/qlink?sslmode=require", Verify::Nothing));
        let (rest, verify, _) = take_tls_options("postgres://h/qlink?sslmode=verify-ca").unwrap();
        assert_eq!((rest.as_str(), verify), ("postgres://h/qlink", Verify::Chain));
        assert!(take_tls_options("postgres://h/qlink?sslmode=allow-maybe").is_err());
    }

    #[test]
    fn a_verify_mode_makes_tls_required_and_a_missing_root_file_stops_the_start() {
        let t = Target::parse("postgres://h/qlink?sslmode=verify-full", "DATABASE_URL").unwrap();
        assert_eq!(t.config.get_ssl_mode(), SslMode::Require);
        let e = Target::parse("postgres://h/qlink?sslmode=verify-full&sslrootcert=/nonexistent.pem", "DATABASE_URL")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("DATABASE_URL: sslrootcert /nonexistent.pem"), "{e}");
        let e = Target::parse("postgres://u:secret@h/qlink?sslmode=bogus", "DATABASE_URL").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
    }
}
