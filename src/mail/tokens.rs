//! Opaque, tamper-evident tokens the API hands out: list cursors and mailbox state
//! tokens. Both are HMAC-SHA256-authenticated under a key derived from the server
//! secret, so any gateway instance with the same secret accepts them and nothing is
//! stored.
//!
//! - A **cursor** is the UID below which the next page starts, bound to the mailbox,
//!   its UIDVALIDITY and the filter. Anchored on a UID, it never shifts or duplicates
//!   items when new mail arrives between two page requests.
//! - An **account cursor** (`GET /v1/messages`) holds, for each mailbox that still
//!   has older matches, the mailbox (a fingerprint of its name), its UIDVALIDITY and
//!   the UID below which its next matches lie, bound to the search and the chosen
//!   mailboxes.
//! - A **state** token records what a client has seen of a mailbox: UIDVALIDITY,
//!   HIGHESTMODSEQ, UIDNEXT and the message count, bound to the mailbox. The changes
//!   API answers what happened since.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::MailError;
use crate::imap::ValidationError;

type HmacSha256 = Hmac<Sha256>;

const TAG: usize = 16;
const KIND_CURSOR: u8 = 1;
const KIND_STATE: u8 = 2;
const KIND_ACCOUNT_CURSOR: u8 = 3;
const KIND_ORDERED_CURSOR: u8 = 4;
/// Bytes of one mailbox's position in an account-wide cursor.
const POSITION_LEN: usize = 16;

fn fingerprint(parts: &[&str]) -> [u8; 8] {
    let mut digest = Sha256::new();
    for part in parts {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest.finalize()[..8]);
    out
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// Not a token of this gateway (malformed, forged, wrong kind).
    Invalid,
    /// Valid, but issued for another mailbox or listing.
    OtherScope,
}

/// Seals and opens tokens.
pub struct TokenCodec {
    key: [u8; 32],
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec")
    }
}

impl TokenCodec {
    /// Derives the token key from the server secret.
    pub fn new(secret: &SecretString) -> Self {
        Self {
            key: crate::auth::token::derive_key(secret, b"list cursor hmac key"),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key).expect("BUG: HMAC accepts any key length")
    }

    fn seal(&self, kind: u8, scope: [u8; 8], payload: &[u8]) -> String {
        let mut bytes = Vec::with_capacity(1 + 8 + payload.len() + TAG);
        bytes.push(kind);
        bytes.extend_from_slice(&scope);
        bytes.extend_from_slice(payload);
        let mut mac = self.mac();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes()[..TAG]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn open(
        &self,
        kind: u8,
        scope: [u8; 8],
        payload_len: usize,
        text: &str,
    ) -> Result<Vec<u8>, Refusal> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| Refusal::Invalid)?;
        if bytes.len() != 1 + 8 + payload_len + TAG || bytes[0] != kind {
            return Err(Refusal::Invalid);
        }
        let (body, tag) = bytes.split_at(bytes.len() - TAG);
        let mut mac = self.mac();
        mac.update(body);
        // Constant-time comparison through the MAC API.
        mac.verify_truncated_left(tag)
            .map_err(|_| Refusal::Invalid)?;
        if body[1..9] != scope {
            return Err(Refusal::OtherScope);
        }
        Ok(body[9..].to_vec())
    }

    /// Like `open`, for a payload of any multiple of `unit` bytes.
    fn open_units(
        &self,
        kind: u8,
        scope: [u8; 8],
        unit: usize,
        text: &str,
    ) -> Result<Vec<u8>, Refusal> {
        let len = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| Refusal::Invalid)?
            .len();
        let payload_len = len
            .checked_sub(1 + 8 + TAG)
            .filter(|n| n % unit == 0)
            .ok_or(Refusal::Invalid)?;
        self.open(kind, scope, payload_len, text)
    }

    /// A cursor of a listing in an order of its own (threads, a SORT): the listing
    /// covers the messages below `bound` (one past the newest UID its first page
    /// saw), `shown` items of it were shown, the last being `last_uid` (0 when the
    /// items are not messages).
    pub fn encode_ordered_cursor(&self, scope: &CursorScope, position: OrderedPosition) -> String {
        let mut payload = scope.uid_validity.to_be_bytes().to_vec();
        payload.extend_from_slice(&position.bound.to_be_bytes());
        payload.extend_from_slice(&position.last_uid.to_be_bytes());
        payload.extend_from_slice(&position.shown.to_be_bytes());
        self.seal(KIND_ORDERED_CURSOR, scope.listing, &payload)
    }

    /// Opens a cursor of [`TokenCodec::encode_ordered_cursor`].
    ///
    /// # Errors
    /// [`MailError::Invalid`] when it is malformed, forged or from another listing;
    /// [`MailError::Conflict`] (`cursor-expired`) after a UIDVALIDITY change.
    pub fn decode_ordered_cursor(
        &self,
        scope: &CursorScope,
        cursor: &str,
    ) -> Result<OrderedPosition, MailError> {
        let payload = self
            .open(KIND_ORDERED_CURSOR, scope.listing, 16, cursor)
            .map_err(|refusal| {
                cursor_refused(
                    refusal,
                    "this cursor belongs to another mailbox, filter or order",
                )
            })?;
        let u32_at = |i: usize| {
            u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
        };
        if u32_at(0) != scope.uid_validity {
            return Err(cursor_expired());
        }
        Ok(OrderedPosition {
            bound: u32_at(4),
            last_uid: u32_at(8),
            shown: u32_at(12),
        })
    }

    /// A cursor of an account-wide search: where each unfinished mailbox stands.
    pub fn encode_account_cursor(&self, listing: [u8; 8], positions: &[MailboxPosition]) -> String {
        let mut payload = Vec::with_capacity(positions.len() * POSITION_LEN);
        for position in positions {
            payload.extend_from_slice(&position.mailbox);
            payload.extend_from_slice(&position.uid_validity.to_be_bytes());
            payload.extend_from_slice(&position.below_uid.to_be_bytes());
        }
        self.seal(KIND_ACCOUNT_CURSOR, listing, &payload)
    }

    /// Opens an account-wide cursor issued for `listing`.
    ///
    /// # Errors
    /// [`MailError::Invalid`] when it is malformed, forged or from another search.
    pub fn decode_account_cursor(
        &self,
        listing: [u8; 8],
        cursor: &str,
    ) -> Result<Vec<MailboxPosition>, MailError> {
        let payload = self
            .open_units(KIND_ACCOUNT_CURSOR, listing, POSITION_LEN, cursor)
            .map_err(|refusal| {
                cursor_refused(
                    refusal,
                    "this cursor belongs to another search or choice of mailboxes",
                )
            })?;
        Ok(payload
            .chunks_exact(POSITION_LEN)
            .map(|chunk| {
                let mut mailbox = [0u8; 8];
                mailbox.copy_from_slice(&chunk[..8]);
                let u32_at = |i: usize| {
                    u32::from_be_bytes([chunk[i], chunk[i + 1], chunk[i + 2], chunk[i + 3]])
                };
                MailboxPosition {
                    mailbox,
                    uid_validity: u32_at(8),
                    below_uid: u32_at(12),
                }
            })
            .collect())
    }

    /// A cursor for the page below `anchor_uid`.
    pub fn encode_cursor(&self, scope: &CursorScope, anchor_uid: u32) -> String {
        let mut payload = scope.uid_validity.to_be_bytes().to_vec();
        payload.extend_from_slice(&anchor_uid.to_be_bytes());
        self.seal(KIND_CURSOR, scope.listing, &payload)
    }

    /// Checks a cursor and returns its anchor UID.
    ///
    /// # Errors
    /// [`MailError::Invalid`] when it is malformed, forged or from another listing;
    /// [`MailError::Conflict`] (`cursor-expired`) when the mailbox's UIDVALIDITY
    /// changed since it was issued.
    pub fn decode_cursor(&self, scope: &CursorScope, cursor: &str) -> Result<u32, MailError> {
        let payload = self
            .open(KIND_CURSOR, scope.listing, 8, cursor)
            .map_err(|refusal| {
                cursor_refused(refusal, "this cursor belongs to another mailbox or filter")
            })?;
        let uid_validity = u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]);
        if uid_validity != scope.uid_validity {
            return Err(cursor_expired());
        }
        Ok(u32::from_be_bytes([
            payload[4], payload[5], payload[6], payload[7],
        ]))
    }

    /// A state token for `mailbox` (wire name).
    pub fn encode_state(&self, mailbox: &str, state: &MailboxState) -> String {
        let mut payload = Vec::with_capacity(20);
        payload.extend_from_slice(&state.uid_validity.to_be_bytes());
        payload.extend_from_slice(&state.highest_modseq.to_be_bytes());
        payload.extend_from_slice(&state.uid_next.to_be_bytes());
        payload.extend_from_slice(&state.messages.to_be_bytes());
        self.seal(KIND_STATE, fingerprint(&[mailbox]), &payload)
    }

    /// Opens a state token issued for `mailbox`.
    ///
    /// # Errors
    /// [`MailError::Invalid`] when it is malformed, forged or for another mailbox.
    pub fn decode_state(
        &self,
        field: &'static str,
        mailbox: &str,
        token: &str,
    ) -> Result<MailboxState, MailError> {
        let payload = self
            .open(KIND_STATE, fingerprint(&[mailbox]), 20, token)
            .map_err(|refusal| match refusal {
                Refusal::Invalid => {
                    ValidationError::new(field, "not a state token issued by this gateway")
                }
                Refusal::OtherScope => {
                    ValidationError::new(field, "this state token belongs to another mailbox")
                }
            })?;
        let u32_at = |i: usize| {
            u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
        };
        let mut modseq = [0u8; 8];
        modseq.copy_from_slice(&payload[4..12]);
        Ok(MailboxState {
            uid_validity: u32_at(0),
            highest_modseq: u64::from_be_bytes(modseq),
            uid_next: u32_at(12),
            messages: u32_at(16),
        })
    }
}

/// 409 `cursor-expired`: the mailbox's UIDVALIDITY changed since the cursor was issued.
fn cursor_expired() -> MailError {
    MailError::Conflict {
        detail: "the mailbox's UIDVALIDITY changed since this cursor was issued: list it again from the start"
            .to_owned(),
        slug: "cursor-expired",
    }
}

/// Why a cursor was refused, for the `cursor` field; `other_scope` says what it
/// belongs to instead.
fn cursor_refused(refusal: Refusal, other_scope: &str) -> ValidationError {
    match refusal {
        Refusal::Invalid => ValidationError::new("cursor", "not a cursor issued by this gateway"),
        Refusal::OtherScope => ValidationError::new("cursor", other_scope.to_owned()),
    }
}

/// What a cursor is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorScope {
    listing: [u8; 8],
    uid_validity: u32,
}

impl CursorScope {
    /// The scope of a listing of `mailbox` (wire name) with `filter` (the canonical
    /// text of the search, `imap::search_criteria`) at `uid_validity`.
    pub fn new(mailbox: &str, filter: &str, uid_validity: u32) -> Self {
        Self {
            listing: fingerprint(&[mailbox, filter]),
            uid_validity,
        }
    }
}

/// The fingerprint of an account-wide search: its filter and how the mailboxes were
/// chosen (both as canonical text).
pub fn account_listing(filter: &str, mailboxes: &str) -> [u8; 8] {
    fingerprint(&["account search", filter, mailboxes])
}

/// Where an account-wide search stands in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxPosition {
    /// [`mailbox_fingerprint`] of the mailbox's wire name.
    pub mailbox: [u8; 8],
    /// Its UIDVALIDITY when the search began.
    pub uid_validity: u32,
    /// Its next matches are below this UID.
    pub below_uid: u32,
}

/// Names a mailbox (by its wire name) inside an account cursor.
pub fn mailbox_fingerprint(wire: &str) -> [u8; 8] {
    fingerprint(&["mailbox", wire])
}

/// Where a listing in an order of its own stands (see
/// [`TokenCodec::encode_ordered_cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderedPosition {
    /// The listing holds the messages below this UID.
    pub bound: u32,
    /// The last message shown (0 when the items are not messages).
    pub last_uid: u32,
    /// How many items were shown.
    pub shown: u32,
}

/// A mailbox's change-tracking position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxState {
    /// UIDVALIDITY.
    pub uid_validity: u32,
    /// HIGHESTMODSEQ: changes up to here are known.
    pub highest_modseq: u64,
    /// UIDNEXT: messages below this UID are known.
    pub uid_next: u32,
    /// Message count (informational).
    pub messages: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP status class of a refusal: 400 for a bad token, 409 for an expired one.
    fn status(err: MailError) -> u16 {
        match err {
            MailError::Invalid(_) => 400,
            MailError::Conflict { .. } => 409,
            other => panic!("unexpected refusal {other:?}"),
        }
    }

    fn codec_for(secret: &str) -> TokenCodec {
        TokenCodec::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn account_cursors_round_trip_and_refuse_others() {
        let codec = codec_for("a-secret-of-at-least-32-bytes-long!!");
        let listing = account_listing("UNSEEN", "exclude junk,trash");
        let positions = [
            MailboxPosition {
                mailbox: mailbox_fingerprint("INBOX"),
                uid_validity: 7,
                below_uid: 1234,
            },
            MailboxPosition {
                mailbox: mailbox_fingerprint("Archive"),
                uid_validity: 9,
                below_uid: u32::MAX,
            },
        ];
        let cursor = codec.encode_account_cursor(listing, &positions);
        assert_eq!(
            codec.decode_account_cursor(listing, &cursor).unwrap(),
            positions
        );
        let other = account_listing("", "exclude junk,trash");
        assert_eq!(
            status(codec.decode_account_cursor(other, &cursor).unwrap_err()),
            400
        );
        let single = codec.encode_cursor(&CursorScope::new("INBOX", "", 7), 5);
        assert_eq!(
            status(codec.decode_account_cursor(listing, &single).unwrap_err()),
            400
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        forged[20] ^= 1;
        assert_eq!(
            status(
                codec
                    .decode_account_cursor(listing, &URL_SAFE_NO_PAD.encode(forged))
                    .unwrap_err()
            ),
            400
        );
        let empty = codec.encode_account_cursor(listing, &[]);
        assert!(codec
            .decode_account_cursor(listing, &empty)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn cursors_round_trip_and_refuse_others() {
        let codec = codec_for("a-secret-of-at-least-32-bytes-long!!");
        let scope = CursorScope::new("INBOX", "", 7);
        let cursor = codec.encode_cursor(&scope, 1234);
        assert_eq!(codec.decode_cursor(&scope, &cursor).unwrap(), 1234);
        let other_filter = CursorScope::new("INBOX", "UNSEEN", 7);
        assert_eq!(
            status(codec.decode_cursor(&other_filter, &cursor).unwrap_err()),
            400
        );
        let new_validity = CursorScope::new("INBOX", "", 8);
        assert_eq!(
            status(codec.decode_cursor(&new_validity, &cursor).unwrap_err()),
            409
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        forged[12] ^= 1;
        assert_eq!(
            status(
                codec
                    .decode_cursor(&scope, &URL_SAFE_NO_PAD.encode(forged))
                    .unwrap_err()
            ),
            400
        );
        assert_eq!(
            status(codec.decode_cursor(&scope, "garbage").unwrap_err()),
            400
        );
        let other_key = codec_for("another-secret-of-at-least-32-bytes!!");
        assert_eq!(
            status(other_key.decode_cursor(&scope, &cursor).unwrap_err()),
            400
        );
    }

    #[test]
    fn state_tokens_round_trip_and_are_not_cursors() {
        let codec = codec_for("a-secret-of-at-least-32-bytes-long!!");
        let state = MailboxState {
            uid_validity: 9,
            highest_modseq: 1 << 40,
            uid_next: 77,
            messages: 70,
        };
        let token = codec.encode_state("INBOX", &state);
        assert_eq!(codec.decode_state("since", "INBOX", &token).unwrap(), state);
        assert_eq!(
            status(codec.decode_state("since", "Archive", &token).unwrap_err()),
            400
        );
        let cursor = codec.encode_cursor(&CursorScope::new("INBOX", "", 9), 5);
        assert_eq!(
            status(codec.decode_state("since", "INBOX", &cursor).unwrap_err()),
            400
        );
    }
}
