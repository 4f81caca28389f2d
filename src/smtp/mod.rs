//! Submitting mail over SMTP (RFC 6409) with the caller's own credentials: one
//! connection per submission, the transaction run command by command so that every
//! recipient's answer is known, and no text reaching the wire that was not validated
//! ([`EnvelopeAddress`]).
//!
//! Knows nothing of HTTP or IMAP; `crate::mail::send` decides what a send means.

mod address;
mod error;

use std::time::Duration;

use mail_send::{Credentials, SmtpClient};
use smtp_proto::{EhloResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub use address::EnvelopeAddress;
pub use error::{Reply, SmtpError};

use crate::sasl::{challenge_status, AccessToken, Mechanisms};
use crate::transport::{Endpoint, Schemes, Security};

/// What proves the sender to the submission server.
#[derive(Debug, Clone, Copy)]
pub enum SmtpSecret<'a> {
    /// A password: AUTH PLAIN or LOGIN.
    Password(&'a str),
    /// An OAuth2 access token: AUTH OAUTHBEARER or XOAUTH2.
    AccessToken(&'a AccessToken),
}

/// The SMTP schemes: `smtp://` (STARTTLS, or plain with `tls=none`), `smtps://`.
const SMTP_SCHEMES: Schemes = Schemes {
    starttls: "smtp",
    starttls_port: 587,
    implicit: "smtps",
    implicit_port: 465,
};

/// A parsed submission address such as `smtps://mail.example.org:465`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpUrl(Endpoint);

impl std::str::FromStr for SmtpUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(raw, SMTP_SCHEMES).map(Self)
    }
}

impl std::fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.to_url(SMTP_SCHEMES))
    }
}

impl SmtpUrl {
    /// True when the connection is unencrypted (`tls=none`).
    pub fn is_plaintext(&self) -> bool {
        self.0.security == Security::Plain
    }
}

/// One recipient the server refused, with its reply.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The recipient.
    pub address: String,
    /// What the server answered to its `RCPT TO`.
    pub reply: Reply,
}

/// What the server did with a submitted message.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Recipients the server accepted (the message went to these).
    pub accepted: Vec<String>,
    /// Recipients the server refused.
    pub refused: Vec<Refusal>,
    /// The server's final reply to the message (`250 ...`).
    pub reply: Reply,
}

/// The configured submission server.
#[derive(Clone)]
pub struct SmtpBackend {
    url: SmtpUrl,
    tls: TlsConnector,
    timeout: Duration,
    mechanisms: Mechanisms,
}

impl std::fmt::Debug for SmtpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpBackend")
            .field("url", &self.url.to_string())
            .finish_non_exhaustive()
    }
}

/// The name the gateway gives in EHLO.
const EHLO_NAME: &str = "imap-gateway";

impl SmtpBackend {
    /// The server at `url`, trusting the system's roots plus `ca_file`; `timeout`
    /// bounds the connection and every command.
    ///
    /// # Errors
    /// The CA file cannot be loaded.
    pub fn new(
        url: SmtpUrl,
        ca_file: Option<&std::path::Path>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            url,
            tls: crate::transport::tls_connector(ca_file)?,
            timeout,
            mechanisms: Mechanisms::default(),
        })
    }

    /// Limits the OAuth2 mechanisms used to those in `mechanisms`.
    #[must_use]
    pub fn with_mechanisms(mut self, mechanisms: Mechanisms) -> Self {
        self.mechanisms = mechanisms;
        self
    }

    /// The configured URL.
    pub fn url(&self) -> &SmtpUrl {
        &self.url
    }

    /// Connects, secures the connection and reads the greeting: what `/readyz` checks.
    ///
    /// # Errors
    /// Connection, TLS, greeting or timeout failures.
    pub async fn probe(&self) -> Result<(), SmtpError> {
        match self.connect().await? {
            Connection::Plain(client) => client.quit().await.map_err(SmtpError::from),
            Connection::Tls(client) => (*client).quit().await.map_err(SmtpError::from),
        }
        .or(Ok(()))
    }

    /// Submits `message` from `sender` to `recipients`, authenticated as `username`.
    /// Every recipient is offered; the message is sent when at least one is accepted.
    ///
    /// # Errors
    /// [`SmtpError::Refused`] when the server refuses the sender, every recipient or
    /// the message; [`SmtpError::AuthFailed`] or [`SmtpError::TokenRejected`] when
    /// it refuses the login; connection, TLS and timeout failures.
    pub async fn submit(
        &self,
        username: &str,
        secret: SmtpSecret<'_>,
        sender: &EnvelopeAddress,
        recipients: &[EnvelopeAddress],
        message: &[u8],
    ) -> Result<Submission, SmtpError> {
        let login = Login {
            username,
            secret,
            mechanisms: self.mechanisms,
        };
        match self.connect().await? {
            Connection::Plain(mut client) => {
                transaction(&mut client, &login, sender, recipients, message).await
            }
            Connection::Tls(mut client) => {
                transaction(&mut *client, &login, sender, recipients, message).await
            }
        }
    }

    async fn connect(&self) -> Result<Connection, SmtpError> {
        let endpoint = &self.url.0;
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((endpoint.host.as_str(), endpoint.port)),
        )
        .await
        .map_err(|_| SmtpError::Timeout)?
        .map_err(|e| SmtpError::Connect(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let mut client = SmtpClient {
            stream: tcp,
            timeout: self.timeout,
        };
        match endpoint.security {
            Security::Plain => {
                expect_greeting(&mut client).await?;
                Ok(Connection::Plain(client))
            }
            Security::StartTls => {
                expect_greeting(&mut client).await?;
                let ehlo = client.ehlo(EHLO_NAME).await.map_err(SmtpError::from)?;
                if !ehlo.has_capability(smtp_proto::EXT_START_TLS) {
                    return Err(SmtpError::Tls(
                        "the server does not offer STARTTLS (use smtps:// or, on a trusted network only, ?tls=none)".to_owned(),
                    ));
                }
                let client = client
                    .start_tls(&self.tls, &endpoint.host)
                    .await
                    .map_err(|e| SmtpError::Tls(e.to_string()))?;
                Ok(Connection::Tls(Box::new(client)))
            }
            Security::ImplicitTls => {
                let mut client = client
                    .into_tls(&self.tls, &endpoint.host)
                    .await
                    .map_err(|e| SmtpError::Tls(e.to_string()))?;
                expect_greeting(&mut client).await?;
                Ok(Connection::Tls(Box::new(client)))
            }
        }
    }
}

enum Connection {
    Plain(SmtpClient<TcpStream>),
    Tls(Box<SmtpClient<tokio_rustls::client::TlsStream<TcpStream>>>),
}

async fn expect_greeting<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
) -> Result<(), SmtpError> {
    let greeting = client.read().await.map_err(SmtpError::from)?;
    if greeting.code() == 220 {
        Ok(())
    } else {
        Err(SmtpError::Refused(Reply::from(&greeting)))
    }
}

/// Sends `command` and returns the server's reply, whatever it is.
async fn command<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    command: &str,
) -> Result<Response<String>, SmtpError> {
    client
        .cmd(command.as_bytes())
        .await
        .map_err(SmtpError::from)
}

/// Who logs in, with what, by which mechanisms.
struct Login<'a> {
    username: &'a str,
    secret: SmtpSecret<'a>,
    mechanisms: Mechanisms,
}

/// The longest `AUTH` line sent with its initial response; a longer response goes on
/// a line of its own after `334` (RFC 4954 allows 12288 octets there).
const MAX_INITIAL_RESPONSE_LINE: usize = 500;

/// Authenticates: AUTH PLAIN or LOGIN for a password (mail-send), OAUTHBEARER or
/// XOAUTH2 for an access token, run here so that the server's JSON error challenge
/// is read and acknowledged as RFC 7628 says (mail-send would answer it with the
/// credentials again).
async fn authenticate<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    ehlo: &EhloResponse<String>,
    login: &Login<'_>,
) -> Result<(), SmtpError> {
    use base64::Engine as _;
    use secrecy::ExposeSecret as _;
    let token = match login.secret {
        SmtpSecret::Password(password) => {
            let credentials = Credentials::new(login.username, password);
            return client
                .authenticate(&credentials, ehlo)
                .await
                .map(|_| ())
                .map_err(SmtpError::from);
        }
        SmtpSecret::AccessToken(token) => token,
    };
    let offered = |name: &str| {
        let bit = match name {
            "OAUTHBEARER" => smtp_proto::AUTH_OAUTHBEARER,
            _ => smtp_proto::AUTH_XOAUTH2,
        };
        ehlo.auth_mechanisms & bit != 0
    };
    let mechanism = login
        .mechanisms
        .choose(offered)
        .ok_or(SmtpError::NoMechanism(
            "OAUTHBEARER or XOAUTH2 for an OAuth2 access token",
        ))?;
    let initial = mechanism.initial_response(login.username, token);
    let encoded = secrecy::SecretString::from(
        base64::engine::general_purpose::STANDARD.encode(initial.expose_secret()),
    );
    let inline = encoded.expose_secret().len() + 20 <= MAX_INITIAL_RESPONSE_LINE;
    let mut reply = if inline {
        let line = secrecy::SecretString::from(format!(
            "AUTH {} {}\r\n",
            mechanism.name(),
            encoded.expose_secret()
        ));
        command(client, line.expose_secret()).await?
    } else {
        let ready = command(client, &format!("AUTH {}\r\n", mechanism.name())).await?;
        if ready.code() != 334 {
            return Err(SmtpError::AuthFailed(Reply::from(&ready)));
        }
        let line = secrecy::SecretString::from(format!("{}\r\n", encoded.expose_secret()));
        command(client, line.expose_secret()).await?
    };
    let mut status = None;
    if reply.code() == 334 {
        // The error challenge: its JSON says why; acknowledging it ends the exchange.
        status = base64::engine::general_purpose::STANDARD
            .decode(reply.message().trim())
            .ok()
            .and_then(|json| challenge_status(&json));
        let acknowledgement =
            base64::engine::general_purpose::STANDARD.encode(mechanism.error_acknowledgement());
        reply = command(client, &format!("{acknowledgement}\r\n")).await?;
    }
    match reply.code() {
        235 => Ok(()),
        // 535: credentials invalid; 534/530: a policy the token does not meet.
        530 | 534 | 535 => Err(SmtpError::TokenRejected {
            status,
            reply: Reply::from(&reply),
        }),
        _ => Err(SmtpError::AuthFailed(Reply::from(&reply))),
    }
}

/// Sends `message` as DATA (RFC 5321 section 4.5.2): a `.` starting a line is
/// doubled, and the end is `.` on a line of its own. The server receives exactly
/// `message`: the final CRLF is the message's own when it has one (mail-send's
/// `write_message` always adds one, so a message ending in CRLF, as every message
/// should, arrived two bytes longer than its Sent copy), else it is added and
/// becomes part of the message, as the protocol requires.
async fn write_data<S: AsyncWrite + Unpin>(stream: &mut S, message: &[u8]) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut line_start = true;
    let mut from = 0;
    for (at, byte) in message.iter().enumerate() {
        if line_start && *byte == b'.' {
            stream.write_all(&message[from..at]).await?;
            stream.write_all(b".").await?;
            from = at;
        }
        line_start = *byte == b'\n';
    }
    stream.write_all(&message[from..]).await?;
    let end: &[u8] = if message.ends_with(b"\r\n") || message.is_empty() {
        b".\r\n"
    } else {
        b"\r\n.\r\n"
    };
    stream.write_all(end).await?;
    stream.flush().await
}

async fn transaction<T: AsyncRead + AsyncWrite + Unpin>(
    client: &mut SmtpClient<T>,
    login: &Login<'_>,
    sender: &EnvelopeAddress,
    recipients: &[EnvelopeAddress],
    message: &[u8],
) -> Result<Submission, SmtpError> {
    let ehlo: EhloResponse<String> = client.ehlo(EHLO_NAME).await.map_err(SmtpError::from)?;
    if ehlo.size > 0 && message.len() > ehlo.size {
        return Err(SmtpError::TooLarge {
            size: message.len(),
            limit: ehlo.size,
        });
    }
    authenticate(client, &ehlo, login).await?;
    let mail_from = command(client, &format!("MAIL FROM:<{}>\r\n", sender.as_str())).await?;
    if mail_from.code() != 250 {
        return Err(SmtpError::Refused(Reply::from(&mail_from)));
    }
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for recipient in recipients {
        let reply = command(client, &format!("RCPT TO:<{}>\r\n", recipient.as_str())).await?;
        if matches!(reply.code(), 250 | 251) {
            accepted.push(recipient.as_str().to_owned());
        } else {
            refused.push(Refusal {
                address: recipient.as_str().to_owned(),
                reply: Reply::from(&reply),
            });
        }
    }
    if accepted.is_empty() {
        let _ = command(client, "RSET\r\n").await;
        return Err(SmtpError::NoRecipient(refused));
    }
    let data = command(client, "DATA\r\n").await?;
    if data.code() != 354 {
        return Err(SmtpError::Refused(Reply::from(&data)));
    }
    let reply = tokio::time::timeout(client.timeout, async {
        write_data(&mut client.stream, message).await?;
        client.read().await
    })
    .await
    .map_err(|_| SmtpError::Timeout)?
    .map_err(SmtpError::from)?;
    if reply.code() != 250 {
        return Err(SmtpError::Refused(Reply::from(&reply)));
    }
    let _ = command(client, "QUIT\r\n").await;
    Ok(Submission {
        accepted,
        refused,
        reply: Reply::from(&reply),
    })
}

#[cfg(test)]
mod data_tests {
    use super::write_data;

    async fn data(message: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_data(&mut out, message).await.unwrap();
        out
    }

    #[tokio::test]
    async fn data_is_the_message_dot_stuffed_and_terminated_once() {
        assert_eq!(
            data(b"Subject: x\r\n\r\nhi\r\n").await,
            b"Subject: x\r\n\r\nhi\r\n.\r\n"
        );
        assert_eq!(
            data(b"Subject: x\r\n\r\nhi").await,
            b"Subject: x\r\n\r\nhi\r\n.\r\n"
        );
        assert_eq!(
            data(b".start\r\n\r\n.\r\n..two\r\nmid.dle\r\n").await,
            b"..start\r\n\r\n..\r\n...two\r\nmid.dle\r\n.\r\n"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_submission_urls() {
        let url: SmtpUrl = "smtps://mail.example.org".parse().unwrap();
        assert_eq!(url.to_string(), "smtps://mail.example.org:465");
        let url: SmtpUrl = "smtp://mail.example.org".parse().unwrap();
        assert_eq!(url.to_string(), "smtp://mail.example.org:587");
        let url: SmtpUrl = "smtp://127.0.0.1:2525?tls=none".parse().unwrap();
        assert!(url.is_plaintext());
        for bad in [
            "imap://mail.example.org",
            "smtps://mail.example.org?tls=none",
            "smtp://user:pw@mail.example.org",
            "smtp://mail.example.org/path",
        ] {
            assert!(bad.parse::<SmtpUrl>().is_err(), "{bad} must be refused");
        }
    }
}
