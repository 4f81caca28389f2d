//! Opening connections to the IMAP backend: TCP, implicit TLS or STARTTLS, the
//! greeting, and the login: LOGIN (or AUTHENTICATE PLAIN for non-ASCII passwords)
//! for a password, AUTHENTICATE OAUTHBEARER or XOAUTH2 for an OAuth2 access token.
//!
//! Every step runs under a timeout. TLS is rustls with the system roots plus an
//! optional CA file; there is no switch to skip certificate checks.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_imap::imap_proto::{Capability, Response, ResponseCode, Status};
use secrecy::ExposeSecret as _;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use super::command;
use super::error::ImapError;
use super::identity::{Credential, Identity};
use super::session::ImapSession;
use super::status::from_async_imap;
use super::ImapStream;

use crate::sasl::Mechanisms;
pub use crate::transport::Security;
use crate::transport::{Endpoint, Schemes};

/// The IMAP schemes: `imap://` (STARTTLS, or plain with `tls=none`), `imaps://`.
const IMAP_SCHEMES: Schemes = Schemes {
    starttls: "imap",
    starttls_port: 143,
    implicit: "imaps",
    implicit_port: 993,
};

/// A parsed backend address such as `imaps://mail.example.org:993`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendUrl {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Transport security.
    pub security: Security,
}

impl FromStr for BackendUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let Endpoint {
            host,
            port,
            security,
        } = Endpoint::parse(raw, IMAP_SCHEMES)?;
        Ok(Self {
            host,
            port,
            security,
        })
    }
}

impl fmt::Display for BackendUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = Endpoint {
            host: self.host.clone(),
            port: self.port,
            security: self.security,
        };
        f.write_str(&endpoint.to_url(IMAP_SCHEMES))
    }
}

/// Timeouts for talking to the backend.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect + TLS handshake + greeting.
    pub connect: Duration,
    /// Any single command, LOGIN included.
    pub command: Duration,
}

/// The configured IMAP server: where it is and how to reach it safely.
#[derive(Clone)]
pub struct Backend {
    url: BackendUrl,
    tls: TlsConnector,
    timeouts: Timeouts,
    forward_client_ip: bool,
    mechanisms: Mechanisms,
}

tokio::task_local! {
    /// The HTTP client whose request is opening sessions, for IMAP ID.
    static LOGIN_CLIENT: Option<IpAddr>;
}

/// Runs `work` (which may open sessions through the pool) on behalf of `client`: its
/// address goes into the IMAP ID of any session opened meanwhile, when forwarding is
/// on (see [`Backend::forwarding_client_ip`]).
pub async fn on_behalf_of<T>(client: Option<IpAddr>, work: impl Future<Output = T>) -> T {
    LOGIN_CLIENT.scope(client, work).await
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backend")
            .field("url", &self.url.to_string())
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// Builds the backend with the system's trusted roots plus `ca_file`, if given.
    ///
    /// # Errors
    /// The CA file cannot be read or holds no certificate, or no root is available.
    pub fn new(
        url: BackendUrl,
        ca_file: Option<&Path>,
        timeouts: Timeouts,
    ) -> anyhow::Result<Self> {
        let tls = crate::transport::tls_connector(ca_file)?;
        Ok(Self {
            url,
            tls,
            timeouts,
            forward_client_ip: false,
            mechanisms: Mechanisms::default(),
        })
    }

    /// Limits the OAuth2 mechanisms used to those in `mechanisms`
    /// (`IMAP_GATEWAY_AUTH_MECHANISMS`; whether passwords are accepted at all is
    /// decided before a login is attempted).
    #[must_use]
    pub fn with_mechanisms(mut self, mechanisms: Mechanisms) -> Self {
        self.mechanisms = mechanisms;
        self
    }

    /// With `forward` set, the IMAP ID sent before LOGIN carries the requesting HTTP
    /// client's address as `x-originating-ip` (RFC 2971; Dovecot honours it from
    /// `login_trusted_networks`). Off by default: a server that does not trust the
    /// gateway ignores it, and one that does must really be behind this gateway.
    #[must_use]
    pub fn forwarding_client_ip(mut self, forward: bool) -> Self {
        self.forward_client_ip = forward;
        self
    }

    /// The backend address.
    pub fn url(&self) -> &BackendUrl {
        &self.url
    }

    /// Connects, secures the stream and reads the greeting: what `/readyz` checks.
    ///
    /// # Errors
    /// Connection, TLS, greeting or timeout failures.
    pub async fn probe(&self) -> Result<(), ImapError> {
        let (client, _greeting, _caps) = self.open().await?;
        drop(client);
        Ok(())
    }

    /// Opens a new connection and logs in as `identity`.
    ///
    /// # Errors
    /// `No { code: AuthenticationFailed }` for a wrong password,
    /// [`ImapError::TokenRejected`] for a refused access token,
    /// [`ImapError::Unsupported`] when the server offers no OAuth2 mechanism this
    /// gateway may use, or any connection error.
    pub async fn login(&self, identity: &Identity) -> Result<ImapSession, ImapError> {
        let (mut client, greeting, mut caps) = self.open().await?;
        let username = identity.username().as_str();
        if matches!(identity.credential(), Credential::OAuth2 { .. }) && caps.is_empty() {
            // Which mechanisms, and whether SASL-IR: not in the greeting after
            // STARTTLS (or from a server that does not put them there).
            let ask = command::pre_login_capabilities(&mut client);
            caps = tokio::time::timeout(self.timeouts.command, ask)
                .await
                .map_err(|_| ImapError::Timeout)?
                .map_err(around_login("CAPABILITY"))?;
        }
        let advertised = |atom: &str| caps.iter().any(|c| c.eq_ignore_ascii_case(atom));
        // IMAP ID before the login when the server advertises it: the only moment a
        // forwarded client address can count for the server's login penalties.
        let id_sent = advertised("ID");
        if id_sent {
            let client_ip = if self.forward_client_ip {
                LOGIN_CLIENT.try_with(|ip| *ip).ok().flatten()
            } else {
                None
            };
            let identify = command::identify(&mut client, client_ip);
            tokio::time::timeout(self.timeouts.command, identify)
                .await
                .map_err(|_| ImapError::Timeout)?
                .map_err(around_login("ID"))?;
        }
        let login = async {
            match identity.credential() {
                Credential::Password(password) => {
                    password_login(client, username, password.expose_secret()).await
                }
                Credential::OAuth2 { token, .. } => {
                    let mechanism = self
                        .mechanisms
                        .choose(|name| advertised(&format!("AUTH={name}")))
                        .ok_or(ImapError::Unsupported(
                            "OAuth2 sign-in (AUTH=OAUTHBEARER or AUTH=XOAUTH2)",
                        ))?;
                    command::authenticate_oauth2(
                        client,
                        mechanism,
                        username,
                        token,
                        advertised("SASL-IR"),
                    )
                    .await
                }
            }
        };
        let session = tokio::time::timeout(self.timeouts.command, login)
            .await
            .map_err(|_| ImapError::Timeout)??;
        ImapSession::start(session, &greeting, id_sent, self.timeouts.command)
            .await
            .map_err(around_login("CAPABILITY, NAMESPACE or ENABLE"))
    }

    /// Connects and reads the greeting; returns the client, the greeting's text and the
    /// capabilities it advertised (empty when it named none; after STARTTLS, none).
    async fn open(
        &self,
    ) -> Result<(async_imap::Client<ImapStream>, String, Vec<String>), ImapError> {
        tokio::time::timeout(self.timeouts.connect, self.open_untimed())
            .await
            .map_err(|_| ImapError::Timeout)?
    }

    async fn open_untimed(
        &self,
    ) -> Result<(async_imap::Client<ImapStream>, String, Vec<String>), ImapError> {
        // An IP literal is connected to directly; only a host name needs Tokio's
        // resolver, which runs getaddrinfo on a blocking-pool thread per connect.
        let host = self.url.host.as_str();
        let tcp = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => TcpStream::connect((ip, self.url.port)).await?,
            Err(_) => TcpStream::connect((host, self.url.port)).await?,
        };
        tcp.set_nodelay(true)?;
        match self.url.security {
            Security::ImplicitTls => {
                let tls = self.handshake(Box::new(tcp)).await?;
                let mut client = async_imap::Client::new(guarded(tls));
                let (greeting, caps) = read_greeting(&mut client).await?;
                Ok((client, greeting, caps))
            }
            Security::StartTls => {
                let plain = super::guard::Guarded::new(tcp);
                let tls_begins = plain.disarm_switch();
                let mut client = async_imap::Client::new(Box::new(plain) as ImapStream);
                let (greeting, _caps) = read_greeting(&mut client).await?;
                command::starttls(&mut client)
                    .await
                    .map_err(|e| ImapError::Tls(format!("STARTTLS was refused: {e}")))?;
                tls_begins.disarm();
                let tls = self.handshake(client.into_inner()).await?;
                // No greeting after STARTTLS (RFC 3501 section 6.2.1).
                // Capabilities from before TLS must not be trusted (RFC 3501 6.2.1).
                Ok((async_imap::Client::new(guarded(tls)), greeting, Vec::new()))
            }
            Security::Plain => {
                let mut client = async_imap::Client::new(guarded(Box::new(tcp)));
                let (greeting, caps) = read_greeting(&mut client).await?;
                Ok((client, greeting, caps))
            }
        }
    }

    async fn handshake(&self, stream: ImapStream) -> Result<ImapStream, ImapError> {
        let name = ServerName::try_from(self.url.host.clone())
            .map_err(|e| ImapError::Tls(format!("invalid server name: {e}")))?;
        let tls = self
            .tls
            .connect(name, stream)
            .await
            .map_err(|e| ImapError::Tls(e.to_string()))?;
        Ok(Box::new(tls))
    }
}

/// What the server sends is held to the bounds of `guard.rs` before any parser
/// sees it (below TLS the bytes are ciphertext, so the guard sits above it).
fn guarded(stream: ImapStream) -> ImapStream {
    Box::new(super::guard::Guarded::new(stream))
}

/// Only the LOGIN or AUTHENTICATE itself judges the credential: a NO to a command
/// before or after it (ID, CAPABILITY, NAMESPACE, ENABLE), with or without a response
/// code, is the server failing, never a wrong password (no 401, no throttle strike).
/// A connection limit stays one (`NO [LIMIT]` and friends hold logins back).
fn around_login(step: &'static str) -> impl FnOnce(ImapError) -> ImapError {
    move |err| match err {
        ImapError::No { .. } if !err.is_server_limit() => {
            ImapError::Protocol(format!("the server refused {step} around the login"))
        }
        other => other,
    }
}

/// Reads the server's greeting; returns its text (which names the server software) and
/// the capabilities of its `[CAPABILITY ...]` code, if any.
async fn read_greeting(
    client: &mut async_imap::Client<ImapStream>,
) -> Result<(String, Vec<String>), ImapError> {
    let greeting = client
        .read_response()
        .await?
        .ok_or(ImapError::ConnectionLost)?;
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok,
            outcome,
        } => {
            let caps = match &outcome.code {
                Some(ResponseCode::Capabilities(list)) => list
                    .iter()
                    .map(|cap| match cap {
                        Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                        Capability::Auth(m) => format!("AUTH={m}"),
                        Capability::Atom(a) => a.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            Ok((
                outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                caps,
            ))
        }
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(ImapError::Bye {
            text: outcome
                .information
                .as_deref()
                .unwrap_or_default()
                .to_owned(),
        }),
        other => Err(ImapError::Protocol(format!(
            "unexpected greeting {:?}",
            std::mem::discriminant(other)
        ))),
    }
}

/// LOGIN, or AUTHENTICATE PLAIN for a password that is not ASCII.
async fn password_login(
    client: async_imap::Client<ImapStream>,
    username: &str,
    password: &str,
) -> Result<async_imap::Session<ImapStream>, ImapError> {
    if password.is_ascii() {
        client
            .login(username, password)
            .await
            .map_err(|(err, _client)| from_async_imap(err))
    } else {
        // LOGIN sends quoted strings, which are 7-bit in IMAP4rev1 (RFC 3501 section
        // 4.3); SASL PLAIN carries UTF-8 (RFC 4616).
        let plain = PlainAuth {
            response: format!("\0{username}\0{password}").into_bytes(),
        };
        client
            .authenticate("PLAIN", plain)
            .await
            .map_err(|(err, _client)| from_async_imap(err))
    }
}

/// SASL PLAIN (RFC 4616) with a precomputed response.
struct PlainAuth {
    response: Vec<u8>,
}

impl async_imap::Authenticator for PlainAuth {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Self::Response {
        std::mem::take(&mut self.response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_backend_urls() {
        let cases = [
            (
                "imaps://mail.example.org",
                "mail.example.org",
                993,
                Security::ImplicitTls,
            ),
            (
                "imap://mail.example.org",
                "mail.example.org",
                143,
                Security::StartTls,
            ),
            (
                "imap://127.0.0.1:1143?tls=none",
                "127.0.0.1",
                1143,
                Security::Plain,
            ),
            ("imap://[::1]:143", "::1", 143, Security::StartTls),
        ];
        for (raw, host, port, security) in cases {
            let url: BackendUrl = raw.parse().unwrap();
            assert_eq!(
                (url.host.as_str(), url.port, url.security),
                (host, port, security),
                "{raw}"
            );
            assert_eq!(url.to_string().parse::<BackendUrl>().unwrap(), url);
        }
        for bad in [
            "http://x",
            "imaps://x?tls=none",
            "imap://u:p@x",
            "imap://x/INBOX",
            "imap://x?foo=1",
            "nonsense",
        ] {
            assert!(bad.parse::<BackendUrl>().is_err(), "{bad} must be refused");
        }
    }
}
