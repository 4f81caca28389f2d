//! Putting command text on the wire: the first line of a command (async-imap adds the
//! tag), a literal's bytes, `DONE`, and the few exchanges that happen outside the
//! session's response loop (STARTTLS and ID before LOGIN, NAMESPACE read raw). Part of
//! the command module: the one place allowed to call async-imap's verbatim methods.

use async_imap::imap_proto::RequestId;
use secrecy::{ExposeSecret as _, SecretString};
use std::fmt::Write as _;

use super::super::error::ImapError;
use super::super::status::from_async_imap;
use super::super::ImapStream;
use crate::sasl::{AccessToken, OAuth2Mechanism};

/// Sends the first line of a command with a fresh tag (async-imap adds the tag and
/// CRLF) and returns the tag. The caller reads the responses (see `session.rs`).
///
/// # Errors
/// I/O errors while writing.
#[expect(
    clippy::disallowed_methods,
    reason = "the command module is the one place allowed to send command text"
)]
pub(crate) async fn send_first_line(
    session: &mut async_imap::Session<ImapStream>,
    line: &str,
) -> Result<RequestId, ImapError> {
    session.run_command(line).await.map_err(from_async_imap)
}

/// Sends a literal's bytes and the command text after it (plus CRLF), straight to the
/// stream: literal bytes need not be UTF-8, which async-imap's `&str` commands require.
///
/// # Errors
/// I/O errors while writing.
pub(crate) async fn send_literal(
    session: &mut async_imap::Session<ImapStream>,
    literal: &[u8],
    rest: &str,
) -> Result<(), ImapError> {
    use tokio::io::AsyncWriteExt as _;
    let stream = session.get_mut();
    stream.write_all(literal).await?;
    stream.write_all(rest.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await?;
    Ok(())
}

/// Sends `DONE`, ending an IDLE (RFC 2177). It is a bare line, not a tagged command.
///
/// # Errors
/// I/O errors while writing.
pub(crate) async fn send_idle_done(
    session: &mut async_imap::Session<ImapStream>,
) -> Result<(), ImapError> {
    use tokio::io::AsyncWriteExt as _;
    let stream = session.get_mut();
    stream.write_all(b"DONE\r\n").await?;
    stream.flush().await?;
    Ok(())
}

/// Sends `NAMESPACE` (RFC 2342) and returns the untagged `* NAMESPACE` line, read
/// straight from the stream: imap-proto cannot parse that response, and one it cannot
/// parse stays in async-imap's buffer and fails every later read. Safe only when no
/// response is pending (right after a completed command), so the stream holds
/// nothing async-imap has not consumed. `None` when the server refused it.
///
/// # Errors
/// I/O errors, or a response that is not a line-based answer.
pub(crate) async fn namespace_exchange(
    session: &mut async_imap::Session<ImapStream>,
) -> Result<Option<String>, ImapError> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const TAG: &str = "gwns";
    let stream = session.get_mut();
    stream
        .write_all(format!("{TAG} NAMESPACE\r\n").as_bytes())
        .await?;
    stream.flush().await?;
    let mut received = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(ImapError::ConnectionLost);
        }
        received.extend_from_slice(&chunk[..n]);
        if received.len() > 64 * 1024 {
            return Err(ImapError::Protocol("NAMESPACE answer too long".to_owned()));
        }
        let text = String::from_utf8_lossy(&received);
        let Some(done) = text
            .split("\r\n")
            .find(|line| line.starts_with(&format!("{TAG} ")))
        else {
            continue;
        };
        if !text.ends_with("\r\n") {
            continue;
        }
        let ok = done[TAG.len() + 1..]
            .get(..2)
            .is_some_and(|s| s.eq_ignore_ascii_case("OK"));
        let line = text
            .split("\r\n")
            .find(|line| {
                line.get(..12)
                    .is_some_and(|head| head.eq_ignore_ascii_case("* NAMESPACE "))
            })
            .map(str::to_owned);
        return Ok(if ok { line } else { None });
    }
}

/// The `ID` parameter list (RFC 2971) the gateway identifies itself with, plus the
/// HTTP client's address as `x-originating-ip` when given. No user text: the name and
/// version are constants, an address prints as digits, dots and colons.
pub fn id_parameters(client_ip: Option<std::net::IpAddr>) -> String {
    let mut line = format!(
        "(\"name\" \"imap-gateway\" \"version\" \"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(ip) = client_ip {
        let _ = write!(line, " \"x-originating-ip\" \"{ip}\"");
    }
    line.push(')');
    line
}

/// Sends `ID` (RFC 2971) on a connection before LOGIN and checks for OK.
///
/// # Errors
/// The server refused, or the connection failed.
#[expect(
    clippy::disallowed_methods,
    reason = "the command module is the one place allowed to send command text"
)]
pub(crate) async fn identify(
    client: &mut async_imap::Client<ImapStream>,
    client_ip: Option<std::net::IpAddr>,
) -> Result<(), ImapError> {
    client
        .run_command_and_check_ok(&format!("ID {}", id_parameters(client_ip)), None)
        .await
        .map_err(from_async_imap)
}

/// Sends `STARTTLS` on an unauthenticated connection and checks for OK.
///
/// # Errors
/// The server refused, or the connection failed.
#[expect(
    clippy::disallowed_methods,
    reason = "the command module is the one place allowed to send command text"
)]
pub(crate) async fn starttls(client: &mut async_imap::Client<ImapStream>) -> Result<(), ImapError> {
    client
        .run_command_and_check_ok("STARTTLS", None)
        .await
        .map_err(from_async_imap)
}

/// Asks an unauthenticated connection for its capabilities (needed after STARTTLS,
/// whose capabilities from before TLS must not be trusted) and returns them as
/// atoms (`AUTH=OAUTHBEARER`, `SASL-IR`, ...).
///
/// # Errors
/// The server refused, or the connection failed.
pub(crate) async fn pre_login_capabilities(
    client: &mut async_imap::Client<ImapStream>,
) -> Result<Vec<String>, ImapError> {
    use async_imap::imap_proto::{Capability, Response, Status};
    use tokio::io::AsyncWriteExt as _;
    // A tag of our own: async-imap numbers its tags `a1`, `a2`, ...
    const TAG: &str = "gwcap";
    let stream = client.get_mut();
    stream
        .write_all(format!("{TAG} CAPABILITY\r\n").as_bytes())
        .await?;
    stream.flush().await?;
    let mut atoms = Vec::new();
    loop {
        let response = client
            .read_response()
            .await?
            .ok_or(ImapError::ConnectionLost)?;
        match response.parsed() {
            Response::Capabilities(list) => {
                atoms.extend(list.iter().map(|cap| match cap {
                    Capability::Imap4rev1 => "IMAP4REV1".to_owned(),
                    Capability::Auth(m) => format!("AUTH={m}"),
                    Capability::Atom(a) => a.to_string(),
                }));
            }
            Response::Done { tag, status, .. } if tag.0 == TAG => {
                return if *status == Status::Ok {
                    Ok(atoms)
                } else {
                    Err(ImapError::Protocol("CAPABILITY was refused".to_owned()))
                };
            }
            _ => {}
        }
    }
}

/// The client side of an OAuth2 SASL exchange: the initial response when the server
/// asks for it, then the acknowledgement of an error challenge, whose JSON it keeps.
struct OAuth2Exchange {
    mechanism: OAuth2Mechanism,
    /// The initial response, until sent (already sent when SASL-IR carried it).
    initial: Option<SecretString>,
    /// The server's error challenge, when it sent one.
    error_challenge: Option<Vec<u8>>,
}

impl async_imap::Authenticator for &mut OAuth2Exchange {
    type Response = Vec<u8>;

    fn process(&mut self, challenge: &[u8]) -> Self::Response {
        if let Some(initial) = self.initial.take() {
            // The server's empty `+`: it wants the initial response.
            return initial.expose_secret().as_bytes().to_vec();
        }
        self.error_challenge = Some(challenge.to_vec());
        self.mechanism.error_acknowledgement().to_vec()
    }
}

/// The longest `AUTHENTICATE` line sent with its initial response (SASL-IR, RFC
/// 4959); a longer one goes in a continuation, which servers buffer more generously
/// (Dovecot: 8 KiB of SASL data, 4 KiB of command line before login).
const MAX_SASL_IR_LINE: usize = 2000;

/// Authenticates with an OAuth2 access token (`AUTHENTICATE OAUTHBEARER` or
/// `XOAUTH2`), sending the initial response on the command line when the server
/// advertises `SASL-IR` and it is short enough.
///
/// # Errors
/// [`ImapError::TokenRejected`] when the server refused the token (with its JSON
/// error's status), other errors as they come (`NO [UNAVAILABLE]` when the server
/// could not check the token).
pub(crate) async fn authenticate_oauth2(
    client: async_imap::Client<ImapStream>,
    mechanism: OAuth2Mechanism,
    username: &str,
    token: &AccessToken,
    sasl_ir: bool,
) -> Result<async_imap::Session<ImapStream>, ImapError> {
    use base64::Engine as _;
    let initial = mechanism.initial_response(username, token);
    let encoded = SecretString::from(
        base64::engine::general_purpose::STANDARD.encode(initial.expose_secret()),
    );
    // The command line holds only the mechanism's name and base64 text.
    let inline = sasl_ir && encoded.expose_secret().len() + 32 <= MAX_SASL_IR_LINE;
    let command = if inline {
        SecretString::from(format!("{} {}", mechanism.name(), encoded.expose_secret()))
    } else {
        SecretString::from(mechanism.name().to_owned())
    };
    let mut exchange = OAuth2Exchange {
        mechanism,
        initial: (!inline).then_some(initial),
        error_challenge: None,
    };
    match client
        .authenticate(command.expose_secret(), &mut exchange)
        .await
    {
        Ok(session) => Ok(session),
        Err((err, _client)) => {
            let err = from_async_imap(err);
            let rejected = exchange.error_challenge.is_some() || err.is_auth_failure();
            if rejected {
                Err(ImapError::TokenRejected {
                    status: exchange
                        .error_challenge
                        .as_deref()
                        .and_then(crate::sasl::challenge_status),
                })
            } else {
                Err(err)
            }
        }
    }
}
