//! The session's view of its selected mailbox: what SELECT reported, kept current
//! from the notices servers send with any command.

use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode, Status};

use super::super::types::MailboxName;

/// The mailbox a session has selected, so the next request can skip SELECT.
#[derive(Debug, Clone)]
pub struct SelectedMailbox {
    /// Which mailbox.
    pub name: MailboxName,
    /// True after EXAMINE (or a read-only SELECT).
    pub read_only: bool,
    /// UIDVALIDITY reported by SELECT.
    pub uid_validity: Option<u32>,
    /// EXISTS reported by SELECT (kept current from EXISTS/EXPUNGE/VANISHED).
    pub exists: Option<u32>,
    /// UIDNEXT reported by SELECT (not kept current: servers do not announce it).
    pub uid_next: Option<u32>,
    /// HIGHESTMODSEQ (CONDSTORE) as the server last declared it for this session's
    /// view: in the SELECT answer, and in `[HIGHESTMODSEQ]` codes on later answers
    /// (Dovecot sends one with the completion of a command that reported expunges).
    /// Never raised from a FETCH's MODSEQ: a FETCH by sequence number may show a
    /// newer flag change while an earlier expunge is still unreported (IMAP forbids
    /// EXPUNGE during FETCH), and a state token built on it would skip that expunge.
    pub highest_modseq: Option<u64>,
}

/// Keeps the session's view of its selected mailbox current from the server's
/// notices, which may accompany any command: the message count from EXISTS,
/// EXPUNGE and VANISHED, the declared HIGHESTMODSEQ, and the selection itself.
pub(super) fn observe_view(selected: &mut Option<SelectedMailbox>, response: &Response<'_>) {
    match response {
        Response::MailboxData(MailboxDatum::Exists(n)) => {
            if let Some(selected) = selected.as_mut() {
                selected.exists = Some(*n);
            }
        }
        Response::Expunge(_) => {
            if let Some(selected) = selected.as_mut() {
                selected.exists = selected.exists.map(|n| n.saturating_sub(1));
            }
        }
        // With QRESYNC enabled, expunges are announced as VANISHED.
        Response::Vanished {
            earlier: false,
            uids,
        } => {
            if let Some(selected) = selected.as_mut() {
                // Server text: a range may be reversed or span every UID.
                let gone: u64 = uids
                    .iter()
                    .map(|r| u64::from(r.end().abs_diff(*r.start())) + 1)
                    .sum();
                let gone = u32::try_from(gone).unwrap_or(u32::MAX);
                selected.exists = selected.exists.map(|n| n.saturating_sub(gone));
            }
        }
        Response::Data {
            status: Status::Ok,
            outcome,
        } => {
            if let (Some(selected), Some(ResponseCode::HighestModSeq(modseq))) =
                (selected.as_mut(), outcome.code.as_ref())
            {
                selected.highest_modseq = selected.highest_modseq.max(Some(*modseq));
            }
        }
        // An untagged NO/BAD while a mailbox is selected means the server could
        // not keep this session's view in sync (Dovecot answers NOOP this way
        // when the selected mailbox was deleted or recreated by another client).
        // Forget the selection so the next use SELECTs again and sees the truth.
        Response::Data {
            status: Status::No | Status::Bad,
            ..
        } => *selected = None,
        _ => {}
    }
}
