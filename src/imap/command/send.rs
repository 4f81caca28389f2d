//! Putting command text on the wire: the first line of a command (async-imap adds the
//! tag), a literal's bytes, `DONE`, and the few exchanges that happen outside the
//! session's response loop (STARTTLS and ID before LOGIN, NAMESPACE read raw). Part of
//! the command module: the one place allowed to call async-imap's verbatim methods.

use async_imap::imap_proto::RequestId;
use std::fmt::Write as _;

use super::super::error::ImapError;
use super::super::status::from_async_imap;
use super::super::ImapStream;

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
