//! Streaming message bodies and attachments in chunks with partial FETCH
//! (`BODY.PEEK[section]<offset.length>`), so a 50 MB attachment passes through
//! the gateway one chunk at a time, and decoding base64 / quoted-printable on the fly.
//!
//! The first chunk is fetched before the response starts (so a small message is
//! whole or a problem answer); then a task owns the pooled session for the rest of
//! the download and fetches one chunk ahead of the client. When the client goes away, the task finishes the
//! FETCH in progress, sees the receiver gone and returns the session to the pool
//! in a clean state.

use std::io;

use axum::body::Bytes;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use futures::Stream;

use tracing::Instrument as _;

use super::error::{ImapResultExt as _, MailError, Op};
use crate::imap::session::SectionKind;
use crate::imap::{FetchItem, ImapError, PartNumber, PooledSession, Section, Uid, UidSet};

/// Bytes fetched per round trip: large enough that round trips do not dominate a
/// big download, small enough to keep the gateway's memory per download bounded.
pub const CHUNK: u32 = 2 * 1024 * 1024;

/// Which body to stream.
#[derive(Debug, Clone)]
pub enum StreamSection {
    /// The whole message (`BODY[]`).
    Whole,
    /// One MIME part's encoded body (`BODY[1.2]`).
    Part(PartNumber),
}

/// A Content-Transfer-Encoding decoder that accepts input in arbitrary pieces.
#[derive(Debug)]
pub enum TransferDecoder {
    /// Pass bytes through (7bit, 8bit, binary).
    Identity,
    /// base64; `pending` holds alphabet characters not yet forming a full quantum.
    Base64 {
        /// Characters carried to the next piece.
        pending: Vec<u8>,
    },
    /// quoted-printable; `pending` holds an incomplete `=XX` or `=\r` at the end of a piece.
    QuotedPrintable {
        /// Bytes carried to the next piece.
        pending: Vec<u8>,
    },
}

/// The base64 alphabet and padding, as a lookup table.
const BASE64_CHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        table[i] = b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=';
        i += 1;
    }
    table
};

/// Built once: an engine's decode table costs more to build than a chunk to decode.
static LENIENT_BASE64: std::sync::LazyLock<GeneralPurpose> = std::sync::LazyLock::new(|| {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    )
});

fn lenient_base64() -> &'static GeneralPurpose {
    &LENIENT_BASE64
}

impl TransferDecoder {
    /// The decoder for a lower-case transfer encoding.
    pub fn for_encoding(encoding: &str) -> Self {
        match encoding {
            "base64" => Self::Base64 {
                pending: Vec::new(),
            },
            "quoted-printable" => Self::QuotedPrintable {
                pending: Vec::new(),
            },
            _ => Self::Identity,
        }
    }

    /// Decodes the next piece; returns what can be decoded so far.
    pub fn feed(&mut self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Identity => input.to_vec(),
            Self::Base64 { pending } => {
                // Drop line breaks with a vectorised scan, copying the runs between them;
                // stray characters (rare) are filtered only when decoding fails.
                let carried = pending.len();
                pending.reserve(input.len());
                let mut start = 0;
                for at in memchr::memchr2_iter(b'\r', b'\n', input) {
                    pending.extend_from_slice(&input[start..at]);
                    start = at + 1;
                }
                pending.extend_from_slice(&input[start..]);
                if !pending[carried..]
                    .iter()
                    .all(|b| BASE64_CHARS[usize::from(*b)])
                {
                    let mut index = 0;
                    pending.retain(|b| {
                        index += 1;
                        index <= carried || BASE64_CHARS[usize::from(*b)]
                    });
                }
                let complete = pending.len() / 4 * 4;
                let decoded = decode_base64_quanta(&pending[..complete]);
                pending.drain(..complete);
                decoded
            }
            Self::QuotedPrintable { pending } => {
                pending.extend_from_slice(input);
                // Keep a possibly incomplete escape (`=`, `=X`, `=\r`) for the next piece.
                let keep = match pending.iter().rposition(|b| *b == b'=') {
                    Some(pos) if pending.len() - pos < 3 => pending.len() - pos,
                    _ => 0,
                };
                let ready: Vec<u8> = pending.drain(..pending.len() - keep).collect();
                decode_quoted_printable(&ready)
            }
        }
    }

    /// Decodes whatever is left at the end of the input.
    pub fn finish(&mut self) -> Vec<u8> {
        match self {
            Self::Identity => Vec::new(),
            Self::Base64 { pending } => {
                let rest = std::mem::take(pending);
                lenient_base64()
                    .decode(
                        rest.iter()
                            .filter(|b| **b != b'=')
                            .copied()
                            .collect::<Vec<u8>>(),
                    )
                    .unwrap_or_default()
            }
            Self::QuotedPrintable { pending } => {
                let rest = std::mem::take(pending);
                decode_quoted_printable(&rest)
            }
        }
    }
}

/// Decodes whole base64 quanta, skipping malformed ones instead of failing the download.
fn decode_base64_quanta(chunk: &[u8]) -> Vec<u8> {
    let engine = lenient_base64();
    if let Ok(decoded) = engine.decode(chunk) {
        return decoded;
    }

    let mut out = Vec::with_capacity(chunk.len() / 4 * 3);
    for quantum in chunk.chunks(4) {
        let trimmed: Vec<u8> = quantum.iter().copied().filter(|b| *b != b'=').collect();
        if let Ok(bytes) = engine.decode(&trimmed) {
            out.extend_from_slice(&bytes);
        }
    }
    out
}

/// RFC 2045 section 6.7 quoted-printable, leniently: malformed escapes pass through.
fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'=' {
            match (input.get(i + 1), input.get(i + 2)) {
                (Some(b'\r'), Some(b'\n')) => i += 3,
                (Some(b'\n'), _) => i += 2,
                (Some(hi), Some(lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    let hex = [*hi, *lo];
                    let text = std::str::from_utf8(&hex).expect("BUG: hex digits are ASCII");
                    out.push(u8::from_str_radix(text, 16).expect("BUG: checked hex digits"));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            }
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

/// `length` bytes of `section` of message `uid` from `offset`: empty when the
/// section has no bytes there (it ended early, or the message was expunged).
async fn fetch_chunk(
    session: &mut PooledSession,
    uid: Uid,
    section: &StreamSection,
    offset: u64,
    length: u32,
) -> Result<Vec<u8>, ImapError> {
    let (fetch_section, kind) = match section {
        StreamSection::Whole => (Section::Whole, SectionKind::Whole),
        StreamSection::Part(part) => (Section::Part(part), SectionKind::Part(part.path().to_vec())),
    };
    let items = [
        FetchItem::Uid,
        FetchItem::Body(fetch_section, Some((offset, length))),
    ];
    let messages = session.fetch_uids(&UidSet::single(uid), &items).await?;
    Ok(messages
        .into_iter()
        .next()
        .and_then(|m| {
            m.sections
                .into_iter()
                .find(|(k, _, _)| *k == kind)
                .map(|(_, _, data)| data)
        })
        .unwrap_or_default())
}

/// The length of the chunk starting at `offset`, below `end`.
fn chunk_length(offset: u64, end: u64) -> u32 {
    u32::try_from((end - offset).min(u64::from(CHUNK))).unwrap_or(CHUNK)
}

/// Fetches `[start, end)` of a section chunk by chunk and sends the encoded bytes on;
/// stops at the end, on an error, or when the receiver is gone (the client left).
/// An error reaches the client as a broken body, never as a clean end.
async fn fetch_chunks(
    mut session: PooledSession,
    uid: Uid,
    section: StreamSection,
    start: u64,
    end: u64,
    chunks: tokio::sync::mpsc::Sender<Result<Vec<u8>, io::Error>>,
) {
    let mut offset = start;
    while offset < end {
        let length = chunk_length(offset, end);
        let data = match fetch_chunk(&mut session, uid, &section, offset, length).await {
            Ok(data) if data.is_empty() => {
                Err(io::Error::other("the message ended early or was expunged"))
            }
            Ok(data) => Ok(data),
            Err(err) => Err(io::Error::other(format!("IMAP fetch failed: {err}"))),
        };
        let failed = data.is_err();
        offset += data.as_ref().map_or(0, |d| d.len() as u64);
        if chunks.send(data).await.is_err() || failed {
            return;
        }
    }
}

/// Streams `section` of message `uid` (of the selected mailbox) from byte `start`
/// (inclusive) to `end` (exclusive, encoded bytes), decoding with `decoder`. The
/// session must have the mailbox selected.
///
/// The first chunk is fetched before this returns, that is before the response's
/// status line: a message that fits in one chunk is sent whole or not at all, and
/// one expunged (or a mailbox deleted) meanwhile answers 404 instead of a 200 that
/// breaks off. The rest is fetched in its own task, one chunk ahead of decoding and
/// sending, so the IMAP transfer and the decoding overlap; at most two chunks wait
/// in between, which bounds the memory a download holds.
///
/// # Errors
/// 404 when the message has no bytes at `start` any more; IMAP failures of the
/// first chunk.
pub async fn section_stream(
    mut session: PooledSession,
    uid: Uid,
    section: StreamSection,
    start: u64,
    end: u64,
    mut decoder: TransferDecoder,
) -> Result<impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static, MailError> {
    let mut first = Vec::new();
    if start < end {
        first = fetch_chunk(&mut session, uid, &section, start, chunk_length(start, end))
            .await
            .during(Op::Fetch)?;
        if first.is_empty() {
            return Err(MailError::NotFound(format!(
                "message {uid} no longer exists"
            )));
        }
    }
    let rest = start + first.len() as u64;
    let (sender, receiver) = tokio::sync::mpsc::channel(2);
    if rest < end {
        // In the request's span, so the download's IMAP commands log with its
        // request id.
        tokio::spawn(
            fetch_chunks(session, uid, section, rest, end, sender)
                .instrument(tracing::Span::current()),
        );
    } else {
        // Everything is here: the session goes back to the pool now.
        drop(session);
        drop(sender);
    }
    let head = Some(decoder.feed(&first)).filter(|decoded| !decoded.is_empty());
    Ok(futures::stream::unfold(
        (receiver, decoder, head, false),
        |(mut receiver, mut decoder, head, done)| async move {
            if let Some(head) = head {
                return Some((Ok(Bytes::from(head)), (receiver, decoder, None, false)));
            }
            if done {
                return None;
            }
            loop {
                match receiver.recv().await {
                    Some(Ok(data)) => {
                        let decoded = decoder.feed(&data);
                        if !decoded.is_empty() {
                            return Some((
                                Ok(Bytes::from(decoded)),
                                (receiver, decoder, None, false),
                            ));
                        }
                    }
                    Some(Err(err)) => return Some((Err(err), (receiver, decoder, None, true))),
                    None => {
                        let tail = decoder.finish();
                        if tail.is_empty() {
                            return None;
                        }
                        return Some((Ok(Bytes::from(tail)), (receiver, decoder, None, true)));
                    }
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(encoding: &str, input: &[u8], piece: usize) -> Vec<u8> {
        let mut decoder = TransferDecoder::for_encoding(encoding);
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            out.extend(decoder.feed(chunk));
        }
        out.extend(decoder.finish());
        out
    }

    #[test]
    fn base64_in_any_piece_size() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
        let wrapped: Vec<u8> = encoded
            .as_bytes()
            .chunks(76)
            .flat_map(|l| [l, b"\r\n"].concat())
            .collect();
        for piece in [1, 3, 4, 5, 77, 1000, 100_000] {
            assert_eq!(
                decode_in_pieces("base64", &wrapped, piece),
                data,
                "piece {piece}"
            );
        }
        // Garbage is skipped rather than failing the download.
        assert_eq!(decode_in_pieces("base64", b"aGVs!!bG8=\r\n", 4), b"hello");
    }

    #[test]
    fn quoted_printable_in_any_piece_size() {
        let input = b"Gr=C3=BC=C3=9Fe, long line=\r\ncontinues; 100% =3D sure=\nend =ZZ";
        let want = "Grüße, long linecontinues; 100% = sureend =ZZ".as_bytes();
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(
                decode_in_pieces("quoted-printable", input, piece),
                want,
                "piece {piece}"
            );
        }
        assert_eq!(decode_in_pieces("7bit", b"as is", 2), b"as is");
    }
}
