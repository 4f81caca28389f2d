//! The response loops under every command: send a rendered command (synchronizing
//! literals wait for the server's `+`), read responses up to the tagged completion,
//! show untagged ones to the caller, and turn BYE, a completion for another tag or a
//! refused literal into errors. IDLE has its own loop. Unit tests feed scripted
//! server bytes through `tokio::io::duplex`.

use std::time::Duration;

use async_imap::imap_proto::{MailboxDatum, RequestId, Response, ResponseCode, Status};

use super::command::{self, Chunk, Command};
use super::completion::Completion;
use super::error::ImapError;
use super::status::check_completion;
use super::ImapStream;

/// Sends `command` and reads its answer. Once the whole command is on the wire its
/// tag is kept in `awaiting` until the completion arrives, so a caller that went
/// away mid-answer leaves behind how to finish it ([`finish_command`]).
pub(crate) async fn round_trip(
    inner: &mut async_imap::Session<ImapStream>,
    command: &Command<'_>,
    literal_plus: bool,
    awaiting: &mut Option<RequestId>,
    mut on_untagged: impl FnMut(&Response<'_>),
) -> Result<Completion, ImapError> {
    let mut chunks = command.render(literal_plus).into_iter();
    let Some(Chunk::Line(first)) = chunks.next() else {
        return Err(ImapError::Protocol("a command starts with text".to_owned()));
    };
    let tag = command::send_first_line(inner, &first).await?;
    while let Some(chunk) = chunks.next() {
        let (Chunk::Literal(bytes), Some(Chunk::Line(rest))) = (chunk, chunks.next()) else {
            return Err(ImapError::Protocol(
                "a literal is followed by text".to_owned(),
            ));
        };
        if !literal_plus {
            // Synchronizing literal: the server must invite it with "+" first.
            await_continuation(inner, &tag, &mut on_untagged, "the literal").await?;
        }
        command::send_literal(inner, bytes, &rest).await?;
    }
    *awaiting = Some(tag.clone());
    let result = read_until_done(
        inner,
        &tag,
        matches!(command, Command::Logout),
        &mut on_untagged,
    )
    .await;
    *awaiting = None;
    result
}

/// Reads the rest of the answer to the command tagged `tag`, whose caller went away
/// after sending it: afterwards the session is in step with the server again. A NO
/// or BAD completion counts as finished too.
///
/// # Errors
/// BYE, a completion for another tag, a connection error.
pub(crate) async fn finish_command(
    inner: &mut async_imap::Session<ImapStream>,
    tag: &RequestId,
    mut on_untagged: impl FnMut(&Response<'_>),
) -> Result<(), ImapError> {
    match read_until_done(inner, tag, false, &mut on_untagged).await {
        Ok(_) | Err(ImapError::No { .. } | ImapError::Bad { .. }) => Ok(()),
        Err(err) => Err(err),
    }
}

/// The one loop that reads a command's responses up to its tagged completion:
/// untagged responses go to `on_untagged`; BYE ends the session (unless
/// `bye_expected`, as after LOGOUT); a completion for another tag is a protocol
/// error; a NO or BAD completion becomes the typed error.
async fn read_until_done(
    inner: &mut async_imap::Session<ImapStream>,
    tag: &RequestId,
    bye_expected: bool,
    on_untagged: &mut impl FnMut(&Response<'_>),
) -> Result<Completion, ImapError> {
    // UID MOVE reports COPYUID in an untagged OK before the expunges (RFC 6851 section 4.3).
    let mut untagged_copy_uid = None;
    loop {
        let response = inner
            .read_response()
            .await?
            .ok_or(ImapError::ConnectionLost)?;
        match response.parsed() {
            Response::Done {
                tag: done,
                status,
                outcome,
            } => {
                let mut completion = completed(done, tag, status, outcome)?;
                if completion.copy_uid.is_none() {
                    completion.copy_uid = untagged_copy_uid;
                }
                return Ok(completion);
            }
            Response::Data {
                status: Status::Ok,
                outcome,
            } if matches!(outcome.code, Some(ResponseCode::CopyUid(..))) => {
                untagged_copy_uid = Completion::from_outcome(outcome.code.as_ref(), None).copy_uid;
            }
            Response::Data {
                status: Status::Bye,
                ..
            } if bye_expected => {}
            Response::Data {
                status: Status::Bye,
                outcome,
            } => return Err(bye(outcome.information.as_deref())),
            other => on_untagged(other),
        }
    }
}

/// Most bytes of one answer read raw (a THREAD answer for 100,000 messages is about
/// 700 KB).
const MAX_RAW_ANSWER: usize = 64 << 20;

/// Sends `command`, whose answer async-imap cannot parse (`* THREAD`), and reads that
/// answer straight from the stream: the data of lines `* {keyword} ...` is returned;
/// every other untagged response is parsed with imap-proto and goes to
/// `on_untagged` (EXISTS, EXPUNGE and FETCH keep the session's view right). Safe only
/// when nothing is pending (the previous command completed and the server sends
/// nothing unasked outside IDLE); literals only with LITERAL+ (`literal_plus`), which
/// needs no continuation.
///
/// # Errors
/// As [`round_trip`]; [`ImapError::Protocol`] for an answer that does not parse.
pub(crate) async fn raw_round_trip(
    inner: &mut async_imap::Session<ImapStream>,
    command: &Command<'_>,
    literal_plus: bool,
    keyword: &str,
    awaiting: &mut Option<RequestId>,
    mut on_untagged: impl FnMut(&Response<'_>),
) -> Result<(Vec<String>, Completion), ImapError> {
    use tokio::io::AsyncReadExt as _;
    let mut chunks = command.render(true).into_iter();
    let Some(Chunk::Line(first)) = chunks.next() else {
        return Err(ImapError::Protocol("a command starts with text".to_owned()));
    };
    let tag = command::send_first_line(inner, &first).await?;
    while let Some(chunk) = chunks.next() {
        let (Chunk::Literal(bytes), Some(Chunk::Line(rest)), true) =
            (chunk, chunks.next(), literal_plus)
        else {
            return Err(ImapError::Protocol(
                "a raw command sends literals only with LITERAL+".to_owned(),
            ));
        };
        command::send_literal(inner, bytes, &rest).await?;
    }
    *awaiting = Some(tag.clone());
    let prefix = format!("* {keyword}");
    let mut wanted = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut start = 0;
    let stream = inner.get_mut();
    loop {
        // One whole response: a line, and the literals it announces with the lines
        // after them.
        let Some(end) = response_end(&buffer[start..]).map(|n| start + n) else {
            if buffer.len() > MAX_RAW_ANSWER {
                return Err(ImapError::Protocol(format!("{keyword} answer too long")));
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(ImapError::ConnectionLost);
            }
            buffer.extend_from_slice(&chunk[..n]);
            continue;
        };
        let bytes = &buffer[start..end];
        start = end;
        let is_wanted = bytes.len() >= prefix.len() + 2
            && bytes[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            && matches!(bytes[prefix.len()], b' ' | b'\r');
        if is_wanted {
            let text = std::str::from_utf8(&bytes[prefix.len()..bytes.len() - 2])
                .map_err(|_| ImapError::Protocol(format!("{keyword} answer is not text")))?;
            wanted.push(text.trim().to_owned());
            continue;
        }
        let (_, response) = Response::parse(bytes)
            .map_err(|_| ImapError::Protocol("an answer imap-proto cannot parse".to_owned()))?;
        match response {
            Response::Done {
                tag: done,
                status,
                outcome,
            } => {
                if done == tag {
                    *awaiting = None;
                }
                let completion = completed(&done, &tag, &status, &outcome)?;
                after_completion(&buffer[start..], &mut on_untagged)?;
                return Ok((wanted, completion));
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => return Err(bye(outcome.information.as_deref())),
            other => on_untagged(&other),
        }
    }
}

/// What the server sent after the completion, read in the same chunk: async-imap
/// will never see these bytes, so they are not dropped but shown to `on_untagged`
/// (an EXISTS sent right after the answer still reaches the session's view). A
/// response cut off at the end of the chunk, a BYE or anything unparsable cannot be
/// handed back: the session ends rather than fall out of step.
fn after_completion(
    mut rest: &[u8],
    on_untagged: &mut impl FnMut(&Response<'_>),
) -> Result<(), ImapError> {
    while !rest.is_empty() {
        let end = response_end(rest).ok_or_else(|| {
            ImapError::Protocol("a partial response followed the completion".to_owned())
        })?;
        let (_, response) = Response::parse(&rest[..end]).map_err(|_| {
            ImapError::Protocol("unparsable bytes followed the completion".to_owned())
        })?;
        match response {
            Response::Data {
                status: Status::Bye,
                outcome,
            } => return Err(bye(outcome.information.as_deref())),
            Response::Done { .. } => {
                return Err(ImapError::Protocol(
                    "a completion for no command followed the completion".to_owned(),
                ))
            }
            other => on_untagged(&other),
        }
        rest = &rest[end..];
    }
    Ok(())
}

/// The length of the first whole response in `bytes` (its line, and any literal it
/// announces with `{n}` followed by the rest), or `None` when more must be read.
fn response_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let newline = memchr::memchr(b'\n', &bytes[at..])? + at;
        let line = &bytes[at..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let literal = line.strip_suffix(b"}").and_then(|head| {
            let open = head.iter().rposition(|&b| b == b'{')?;
            std::str::from_utf8(&head[open + 1..])
                .ok()?
                .parse::<usize>()
                .ok()
        });
        match literal {
            Some(len) => {
                at = newline + 1 + len;
                if at > bytes.len() {
                    return None;
                }
            }
            None => return Some(newline + 1),
        }
    }
}

/// The completion of the command tagged `tag`: its typed error for NO or BAD.
///
/// # Errors
/// A completion for another tag ([`ImapError::Protocol`]), NO, BAD.
fn completed(
    done: &RequestId,
    tag: &RequestId,
    status: &Status,
    outcome: &async_imap::imap_proto::Outcome<'_>,
) -> Result<Completion, ImapError> {
    if done != tag {
        return Err(ImapError::Protocol(
            "completion for an unknown tag".to_owned(),
        ));
    }
    check_completion(
        status,
        outcome.code.as_ref(),
        outcome.information.as_deref(),
    )?;
    Ok(Completion::from_outcome(
        outcome.code.as_ref(),
        outcome.information.as_deref(),
    ))
}

/// The error for a BYE with this text.
fn bye(text: Option<&str>) -> ImapError {
    ImapError::Bye {
        text: text.unwrap_or_default().to_owned(),
    }
}

/// Reads until the server's continuation request (`+`), passing other responses
/// to `on_untagged`. A completion instead means the server refused what `what` needed.
async fn await_continuation(
    inner: &mut async_imap::Session<ImapStream>,
    tag: &RequestId,
    on_untagged: &mut impl FnMut(&Response<'_>),
    what: &str,
) -> Result<(), ImapError> {
    loop {
        let response = inner
            .read_response()
            .await?
            .ok_or(ImapError::ConnectionLost)?;
        match response.parsed() {
            Response::Continue { .. } => return Ok(()),
            Response::Done {
                tag: done,
                status,
                outcome,
            } if done == tag => {
                check_completion(
                    status,
                    outcome.code.as_ref(),
                    outcome.information.as_deref(),
                )?;
                return Err(ImapError::Protocol(format!(
                    "the server completed the command before {what}"
                )));
            }
            other => on_untagged(other),
        }
    }
}

/// One IDLE: start, wait for a change or `max`, DONE, read the completion.
pub(crate) async fn idle_round(
    inner: &mut async_imap::Session<ImapStream>,
    max: Duration,
    command_timeout: Duration,
) -> Result<bool, ImapError> {
    let is_change = |response: &Response<'_>| {
        matches!(
            response,
            Response::MailboxData(MailboxDatum::Exists(_))
                | Response::Expunge(_)
                | Response::Vanished { .. }
                | Response::Fetch(..)
        )
    };
    let Some(Chunk::Line(line)) = Command::Idle.render(true).into_iter().next() else {
        return Err(ImapError::Protocol("IDLE renders as one line".to_owned()));
    };
    let tag = command::send_first_line(inner, &line).await?;
    let mut changed = false;
    // Wait for the "+ idling" continuation.
    let mut note = |response: &Response<'_>| changed |= is_change(response);
    tokio::time::timeout(
        command_timeout,
        await_continuation(inner, &tag, &mut note, "IDLE"),
    )
    .await
    .map_err(|_| ImapError::Timeout)??;
    // Wait for a change (keep-alive "* OK Still here" lines are not changes).
    if !changed {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            match tokio::time::timeout_at(deadline, inner.read_response()).await {
                Err(_elapsed) => break,
                Ok(read) => {
                    let response = read?.ok_or(ImapError::ConnectionLost)?;
                    if let Response::Data {
                        status: Status::Bye,
                        outcome,
                    } = response.parsed()
                    {
                        return Err(bye(outcome.information.as_deref()));
                    }
                    if is_change(response.parsed()) {
                        changed = true;
                        break;
                    }
                }
            }
        }
    }
    command::send_idle_done(inner).await?;
    let mut note = |response: &Response<'_>| changed |= is_change(response);
    tokio::time::timeout(
        command_timeout,
        read_until_done(inner, &tag, false, &mut note),
    )
    .await
    .map_err(|_| ImapError::Timeout)??;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::code::RespCode;
    use crate::imap::profile::Naming;
    use crate::imap::test_server::{next_tag, reply, session};
    use crate::imap::types::MailboxName;
    use crate::imap::uid::{Uid, UidSet};

    /// Runs `command` against a server that answers the first line with `answer`
    /// (`{tag}` replaced by the command's tag).
    async fn exchange(
        command: Command<'_>,
        literal_plus: bool,
        answer: &'static str,
    ) -> (Result<Completion, ImapError>, Vec<String>) {
        let (mut session, mut server) = session().await;
        let script = tokio::spawn(async move {
            let tag = next_tag(&mut server).await;
            reply(&mut server, &answer.replace("{tag}", &tag)).await;
            server
        });
        let mut untagged = Vec::new();
        let result = round_trip(
            &mut session,
            &command,
            literal_plus,
            &mut None,
            |response| {
                untagged.push(format!("{response:?}"));
            },
        )
        .await;
        let _server = script.await.unwrap();
        (result, untagged)
    }

    /// Runs `UID THREAD` raw against a server answering with `answer`.
    async fn raw_thread(answer: &'static str) -> (Result<Vec<String>, ImapError>, Vec<String>) {
        let (mut session, mut server) = session().await;
        let script = tokio::spawn(async move {
            let tag = next_tag(&mut server).await;
            reply(&mut server, &answer.replace("{tag}", &tag)).await;
            server
        });
        let mut untagged = Vec::new();
        let command = Command::UidThread(crate::imap::ThreadAlgorithm::References, None);
        let result = raw_round_trip(
            &mut session,
            &command,
            true,
            "THREAD",
            &mut None,
            |response| {
                untagged.push(format!("{response:?}"));
            },
        )
        .await
        .map(|(lines, _)| lines);
        let _server = script.await.unwrap();
        (result, untagged)
    }

    #[tokio::test]
    async fn thread_answers_are_read_raw_beside_the_usual_responses() {
        let (lines, untagged) = raw_thread(
            "* 8 EXISTS\r\n* THREAD (1 (2 4)(5))(3 7)(6)\r\n* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n\
             * OK [ALERT] {5}\r\nhello\r\n{tag} OK Thread completed.\r\n",
        )
        .await;
        assert_eq!(lines.unwrap(), ["(1 (2 4)(5))(3 7)(6)"]);
        assert_eq!(untagged.len(), 3, "{untagged:?}");
        assert!(untagged[0].contains("Exists(8)"), "{untagged:?}");
        // An empty mailbox threads to nothing.
        let (lines, _) = raw_thread("* THREAD\r\n{tag} OK done\r\n").await;
        assert_eq!(lines.unwrap(), [""]);
    }

    #[tokio::test]
    async fn raw_answers_end_with_the_completion_or_fail_cleanly() {
        let (result, _) = raw_thread("{tag} NO [CANNOT] no threading today\r\n").await;
        assert!(matches!(result, Err(ImapError::No { .. })), "{result:?}");
        let (result, _) = raw_thread("* BYE shutting down\r\n").await;
        assert!(matches!(result, Err(ImapError::Bye { .. })), "{result:?}");
        let (result, _) = raw_thread("* GARBAGE \x01\r\n{tag} OK\r\n").await;
        assert!(matches!(result, Err(ImapError::Protocol(_))), "{result:?}");
        let (result, _) = raw_thread("X1 OK not ours\r\n").await;
        assert!(matches!(result, Err(ImapError::Protocol(_))), "{result:?}");
    }

    /// Bytes read past the completion were dropped: news in them never reached the
    /// session's view, and a cut-off response left the session out of step.
    #[tokio::test]
    async fn what_follows_the_completion_is_seen_or_ends_the_session() {
        let (lines, untagged) = raw_thread("* THREAD (1)\r\n{tag} OK done\r\n* 9 EXISTS\r\n").await;
        assert_eq!(lines.unwrap(), ["(1)"]);
        assert!(
            untagged.iter().any(|u| u.contains("Exists(9)")),
            "{untagged:?}"
        );
        let (result, _) = raw_thread("* THREAD (1)\r\n{tag} OK done\r\n* 9 EXI").await;
        assert!(matches!(result, Err(ImapError::Protocol(_))), "{result:?}");
        let (result, _) = raw_thread("* THREAD (1)\r\n{tag} OK done\r\n* BYE bye\r\n").await;
        assert!(matches!(result, Err(ImapError::Bye { .. })), "{result:?}");
    }

    #[test]
    fn a_response_ends_after_its_literals() {
        assert_eq!(response_end(b"* 1 EXISTS\r\nrest"), Some(12));
        assert_eq!(response_end(b"* 1 EXISTS"), None);
        let with_literal = b"* 1 FETCH (BODY[] {3}\r\na\r\n)\r\nnext";
        assert_eq!(response_end(with_literal), Some(with_literal.len() - 4));
        assert_eq!(response_end(b"* 1 FETCH (BODY[] {30}\r\nshort"), None);
    }

    #[tokio::test]
    async fn a_completion_for_another_tag_is_a_protocol_error() {
        let (result, _) = exchange(Command::Noop, true, "X999 OK done\r\n").await;
        assert!(matches!(result, Err(ImapError::Protocol(_))), "{result:?}");
    }

    #[tokio::test]
    async fn bye_in_the_middle_of_a_command_ends_it() {
        let (result, _) = exchange(
            Command::Noop,
            true,
            "* 3 EXISTS\r\n* BYE FETCH failed: Mailbox was deleted under us\r\n",
        )
        .await;
        match result {
            Err(ImapError::Bye { text }) => assert!(text.contains("deleted"), "{text}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refused_synchronizing_literal_is_the_servers_no() {
        let name = MailboxName::try_from("Nope").unwrap();
        let server = Naming::default().to_server(&name).unwrap();
        let command = Command::Append {
            mailbox: &server,
            flags: &[],
            internal_date: None,
            message: b"Subject: x\r\n\r\nbody\r\n",
        };
        // Instead of "+", the server refuses at once: the literal is never sent.
        let (result, _) =
            exchange(command, false, "{tag} NO [TRYCREATE] No such mailbox\r\n").await;
        match result {
            Err(ImapError::No { code, .. }) => assert_eq!(code, Some(RespCode::TryCreate)),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn copyuid_may_come_untagged_before_the_expunges() {
        let name = MailboxName::try_from("Archive").unwrap();
        let target = Naming::default().to_server(&name).unwrap();
        let uids =
            UidSet::from_uids([Uid::try_from(1).unwrap(), Uid::try_from(2).unwrap()]).unwrap();
        let (result, untagged) = exchange(
            Command::UidMove(&uids, &target),
            true,
            "* OK [COPYUID 7 1:2 10:11] Moved\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n{tag} OK done\r\n",
        )
        .await;
        let completion = result.unwrap();
        assert_eq!(completion.copy_uid, Some((7, vec![(1, 10), (2, 11)])));
        assert_eq!(
            untagged.len(),
            2,
            "the expunges reach the caller: {untagged:?}"
        );
    }

    #[tokio::test]
    async fn an_untagged_no_is_shown_and_the_tagged_ok_completes() {
        let (result, untagged) = exchange(
            Command::Noop,
            true,
            "* NO Mailbox was recreated\r\n{tag} OK done\r\n",
        )
        .await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(untagged.len(), 1);
        assert!(untagged[0].contains("No"), "{untagged:?}");
    }

    #[tokio::test]
    async fn the_connection_closing_mid_command_is_lost() {
        let (mut session, server) = session().await;
        drop(server);
        let result = round_trip(&mut session, &Command::Noop, true, &mut None, |_| {}).await;
        assert!(
            matches!(result, Err(ImapError::ConnectionLost | ImapError::Io(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn idle_reports_a_change_and_ends_with_done() {
        let (mut session, mut server) = session().await;
        let script = tokio::spawn(async move {
            let tag = next_tag(&mut server).await;
            reply(&mut server, "+ idling\r\n* OK Still here\r\n* 4 EXISTS\r\n").await;
            // The client ends the IDLE with DONE; then the completion.
            let mut done = String::new();
            tokio::io::AsyncBufReadExt::read_line(&mut server, &mut done)
                .await
                .unwrap();
            assert_eq!(done, "DONE\r\n");
            reply(&mut server, &format!("{tag} OK Idle completed\r\n")).await;
            server
        });
        let changed = idle_round(&mut session, Duration::from_secs(5), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(changed, "EXISTS is a change; the keep-alive line is not");
        let _server = script.await.unwrap();
    }
}
