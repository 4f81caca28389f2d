//! Messages as FETCH returns them, owned: UID, flags, dates, sizes, MODSEQ, the
//! flattened BODYSTRUCTURE and body sections.

use async_imap::imap_proto::{AttributeValue, MessageSection, Response, SectionPath};

use super::mime::{self, MimePart};

/// One section of a message body returned by FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// `BODY[]`
    Whole,
    /// `BODY[HEADER]`
    Header,
    /// `BODY[1.2]`
    Part(Vec<u32>),
    /// `BODY[1.2.MIME]`
    PartMime(Vec<u32>),
    /// Anything else.
    Other,
}

/// A message as FETCH returned it, owned.
#[derive(Debug, Clone, Default)]
pub struct FetchedMessage {
    /// UID.
    pub uid: u32,
    /// Flags as the server spells them.
    pub flags: Option<Vec<String>>,
    /// INTERNALDATE as sent (`26-Nov-2026 09:00:00 +0000`).
    pub internal_date: Option<String>,
    /// RFC822.SIZE.
    pub size: Option<u32>,
    /// MODSEQ.
    pub modseq: Option<u64>,
    /// BODYSTRUCTURE, flattened with part numbers.
    pub parts: Option<Vec<MimePart>>,
    /// Body sections: which, partial offset, bytes.
    pub sections: Vec<(SectionKind, Option<u32>, Vec<u8>)>,
    /// A body section came back NIL: the message was expunged by another client and
    /// the server only kept a placeholder (`[EXPUNGEISSUED]`).
    pub expunged: bool,
}

impl FetchedMessage {
    /// The bytes of a section, if it was returned.
    pub fn section(&self, kind: &SectionKind) -> Option<&[u8]> {
        self.sections
            .iter()
            .find(|(k, _, _)| k == kind)
            .map(|(_, _, data)| data.as_slice())
    }
}

/// Reads one untagged FETCH response as the server sent it (`* 1 FETCH (...)\r\n`,
/// literals inline), the way sessions read them. For fuzzing and tests: whatever the
/// bytes, this returns `None` or a message. imap-proto 0.17 itself panics on some
/// malformed responses (`INTERNALDATE NIL`); that is caught here and counted as
/// unparsable, so fuzzing goes on to find the gateway's own bugs (in sessions the
/// HTTP layer turns such a panic into a 500 and the session is discarded).
pub fn fetched_from_wire(bytes: &[u8]) -> Option<FetchedMessage> {
    // Only imap-proto's parsing is guarded: a panic in the gateway's own conversion
    // must stay visible.
    let parsed = std::panic::catch_unwind(|| Response::parse(bytes)).ok()?;
    match parsed {
        Ok((_, Response::Fetch(_, attributes))) => Some(fetched_from(&attributes)),
        _ => None,
    }
}

/// Keeps a FETCH response for one of our messages: with a UID (unsolicited FETCHes
/// about other messages lack one) and not an expunged placeholder.
pub(crate) fn push_fetched(response: &Response<'_>, messages: &mut Vec<FetchedMessage>) {
    messages.extend(fetched_message(response));
}

/// The message a FETCH response is about, when it is one of ours (see
/// [`push_fetched`]).
pub(crate) fn fetched_message(response: &Response<'_>) -> Option<FetchedMessage> {
    let Response::Fetch(_, attributes) = response else {
        return None;
    };
    let message = fetched_from(attributes);
    (message.uid != 0 && !message.expunged).then_some(message)
}

pub(crate) fn fetched_from(attributes: &[AttributeValue<'_>]) -> FetchedMessage {
    let mut message = FetchedMessage::default();
    for attribute in attributes {
        match attribute {
            AttributeValue::Uid(uid) => message.uid = *uid,
            AttributeValue::Flags(flags) => {
                message.flags = Some(flags.iter().map(|f| f.to_string()).collect());
            }
            AttributeValue::InternalDate(date) => message.internal_date = Some(date.to_string()),
            AttributeValue::Rfc822Size(size) => message.size = Some(*size),
            AttributeValue::ModSeq(modseq) => message.modseq = Some(*modseq),
            AttributeValue::BodyStructure(structure) => {
                message.parts = Some(mime::flatten(structure))
            }
            AttributeValue::BodySection {
                section,
                index,
                data,
            } => {
                let kind = match section {
                    None => SectionKind::Whole,
                    Some(SectionPath::Full(MessageSection::Header)) => SectionKind::Header,
                    Some(SectionPath::Part(path, None)) => SectionKind::Part(path.clone()),
                    Some(SectionPath::Part(path, Some(MessageSection::Mime))) => {
                        SectionKind::PartMime(path.clone())
                    }
                    Some(_) => SectionKind::Other,
                };
                message.expunged |= data.is_none();
                let bytes = data.as_deref().map(<[u8]>::to_vec).unwrap_or_default();
                message.sections.push((kind, *index, bytes));
            }
            _ => {}
        }
    }
    message
}
