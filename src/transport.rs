//! What the IMAP and SMTP connections share: how an endpoint URL says where the server
//! is and how the connection is protected, and the TLS client configuration (system
//! roots plus an optional CA file).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// How the connection to a server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`, `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `imap://`, `smtp://`: plain TCP upgraded with STARTTLS, which must succeed.
    StartTls,
    /// `...?tls=none`: no encryption; only when explicitly asked for.
    Plain,
}

/// The schemes and default ports of one protocol.
#[derive(Debug, Clone, Copy)]
pub struct Schemes {
    /// The STARTTLS (or, with `tls=none`, plain) scheme: `imap`, `smtp`.
    pub starttls: &'static str,
    /// Its default port.
    pub starttls_port: u16,
    /// The implicit-TLS scheme: `imaps`, `smtps`.
    pub implicit: &'static str,
    /// Its default port.
    pub implicit_port: u16,
}

/// Where a server is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
}

impl Endpoint {
    /// Parses `scheme://host[:port][?tls=none|starttls]`.
    ///
    /// # Errors
    /// Another scheme, no host, credentials or a path in the URL, unknown parameters.
    pub fn parse(raw: &str, schemes: Schemes) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        let (default_port, mut security) = match url.scheme() {
            s if s == schemes.implicit => (schemes.implicit_port, Security::ImplicitTls),
            s if s == schemes.starttls => (schemes.starttls_port, Security::StartTls),
            other => {
                return Err(format!(
                    "scheme must be {} or {}, not {other:?}",
                    schemes.starttls, schemes.implicit
                ))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("a host is required")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials do not belong in the URL".to_owned());
        }
        if !matches!(url.path(), "" | "/") {
            return Err("a path is not allowed".to_owned());
        }
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if security == Security::StartTls => security = Security::Plain,
                ("tls", "starttls") if security == Security::StartTls => {}
                ("tls", other) => {
                    return Err(format!(
                    "tls={other} is not supported for {} (use tls=none or tls=starttls with {}://)",
                    url.scheme(),
                    schemes.starttls
                ))
                }
                (other, _) => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(Self {
            host,
            port: url.port().unwrap_or(default_port),
            security,
        })
    }

    /// The URL again, in the form [`Self::parse`] reads.
    pub fn to_url(&self, schemes: Schemes) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.security {
            Security::ImplicitTls => format!("{}://{host}:{}", schemes.implicit, self.port),
            Security::StartTls => format!("{}://{host}:{}", schemes.starttls, self.port),
            Security::Plain => format!("{}://{host}:{}?tls=none", schemes.starttls, self.port),
        }
    }
}

/// A TLS client trusting the system's roots plus the certificates in `ca_file`.
///
/// # Errors
/// The CA file cannot be read or holds no certificate.
pub fn tls_connector(ca_file: Option<&Path>) -> anyhow::Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    // System roots are optional: a loopback test server is trusted through the CA file.
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("cannot parse {}: {e}", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("{} holds no PEM certificate", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| anyhow::anyhow!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
