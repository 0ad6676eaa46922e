//! Which servers the client trusts over `https://` and `wss://`: the system's certificate
//! authorities, plus an optional private CA read from a PEM file. One rustls configuration
//! (ring provider) serves both the HTTP API and the live push socket.
//!
//! A failed TLS connection is described in one sentence ([`describe`]): an untrusted
//! certificate, a name mismatch, an expired certificate, or a server that does not speak
//! TLS at all.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::error::ClientError;

/// The certificate authorities a client trusts: the system's, and optionally a private CA.
#[derive(Clone, Default)]
pub struct Trust {
    /// The private CA's file and its certificates (already checked to parse).
    private_ca: Option<(PathBuf, Vec<CertificateDer<'static>>)>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust").field("ca_file", &self.ca_file()).finish()
    }
}

impl Trust {
    /// Trust the system's certificate authorities only.
    pub fn system() -> Trust {
        Trust::default()
    }

    /// Trust the system's authorities and the CA certificate(s) in the PEM file `path`.
    /// A missing, unreadable or malformed file is refused with one sentence naming it.
    pub fn with_ca_file(path: &Path) -> Result<Trust, ClientError> {
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| {
            ClientError::Io { what: format!("can't read the CA certificate file {shown}"), path: path.to_path_buf(), reason: hush_proto::fsio::io_reason(&e) }
        })?;
        let mut certs = Vec::new();
        for item in CertificateDer::pem_slice_iter(&pem) {
            match item {
                Ok(c) => certs.push(c),
                Err(_) => {
                    return Err(ClientError::Usage(format!(
                        "the CA certificate file {shown} is not valid PEM"
                    )));
                }
            }
        }
        if certs.is_empty() {
            return Err(ClientError::Usage(format!(
                "the CA certificate file {shown} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
            )));
        }
        let mut roots = RootCertStore::empty();
        for c in &certs {
            roots.add(c.clone()).map_err(|_| {
                ClientError::Usage(format!("the CA certificate file {shown} holds a certificate that can't be parsed"))
            })?;
        }
        Ok(Trust { private_ca: Some((path.to_path_buf(), certs)) })
    }

    /// The private CA file, if one is trusted.
    pub fn ca_file(&self) -> Option<&Path> {
        self.private_ca.as_ref().map(|(p, _)| p.as_path())
    }

    /// The rustls configuration. With `system_roots` false (a plain `http://` server, where
    /// it is never used) the system's authorities are not loaded.
    pub(crate) fn client_config(&self, system_roots: bool) -> Result<ClientConfig, String> {
        let mut roots = RootCertStore::empty();
        if system_roots {
            // Unreadable system certificates are skipped: the ones that load still count,
            // and a private CA may be all this server needs.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        if let Some((_, certs)) = &self.private_ca {
            roots.add_parsable_certificates(certs.iter().cloned());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("can't set up TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(config)
    }
}

/// One phrase for a failed connection whose cause was TLS, or `None` when TLS was not
/// the problem. Walks the error's source chain (looking inside I/O errors too, whose
/// `source()` skips the error they wrap) for the rustls error.
pub fn describe(e: &(dyn StdError + 'static)) -> Option<String> {
    find_rustls(e).map(describe_rustls)
}

/// The rustls error in `err`'s chain, looking inside I/O errors (several may be nested).
fn find_rustls<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = err.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
        && let Some(r) = find_rustls(inner)
    {
        return Some(r);
    }
    err.source().and_then(find_rustls)
}

const PRIVATE_CA_HINT: &str = "pass --ca-cert FILE to trust a private CA";

fn describe_rustls(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("its certificate is not signed by a trusted authority ({PRIVATE_CA_HINT})")
            }
            CertificateError::NotValidForName => "its certificate is for a different name than the server address".into(),
            CertificateError::NotValidForNameContext { expected, presented } => {
                let names = presented.iter().map(|n| presented_name(n)).collect::<Vec<_>>().join(", ");
                format!(
                    "its certificate is for a different name ({}) than the server address ({})",
                    if names.is_empty() { "no name".to_owned() } else { names },
                    server_name(expected)
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "its certificate has expired (the server must renew it)".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "its certificate is not valid yet (check the clocks of the server and of this computer)".into()
            }
            CertificateError::Revoked => "its certificate has been revoked".into(),
            CertificateError::BadEncoding => "its certificate can't be parsed".into(),
            // webpki's error, seen through rustls only as "other".
            CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                "its certificate is a CA certificate, which can't serve as a server's own (sign a server certificate with that CA, and pass the CA with --ca-cert FILE)".into()
            }
            other => format!("its certificate was refused ({other:?})"),
        },
        E::InvalidMessage(_) | E::InappropriateMessage { .. } | E::InappropriateHandshakeMessage { .. } => {
            "it does not speak TLS there (is it a plain http:// server?)".into()
        }
        E::AlertReceived(alert) => format!("the server refused the TLS connection ({alert:?})"),
        E::NoCertificatesPresented => "the server presented no certificate".into(),
        E::PeerIncompatible(_) => "the server's TLS settings are not compatible with hush (TLS 1.2 or 1.3 needed)".into(),
        other => format!("the TLS connection failed ({other})"),
    }
}

/// A name as webpki reports it (`DnsName("a.example")`, `IpAddress(192.0.2.1)`), bare.
fn presented_name(n: &str) -> &str {
    for tag in ["DnsName(", "IpAddress("] {
        if let Some(inner) = n.strip_prefix(tag).and_then(|r| r.strip_suffix(')')) {
            return inner.trim_matches('"');
        }
    }
    n
}

fn server_name(n: &rustls::pki_types::ServerName<'_>) -> String {
    match n {
        rustls::pki_types::ServerName::DnsName(d) => d.as_ref().to_owned(),
        rustls::pki_types::ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
        other => format!("{other:?}"),
    }
}
