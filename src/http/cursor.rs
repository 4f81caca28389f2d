//! Opaque, tamper-evident list cursors.
//!
//! A cursor is the UID below which the next page starts, bound to the mailbox, its
//! UIDVALIDITY and the filter it was issued for, and authenticated with HMAC-SHA256
//! under a key derived from the server secret. Any gateway instance with the same
//! secret accepts it; nothing is stored. Because it is anchored on a UID, new mail
//! arriving between two page requests never shifts or duplicates items.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// What a cursor is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorScope {
    listing: [u8; 8],
    uid_validity: u32,
}

impl CursorScope {
    /// The scope of a listing of `mailbox` (wire name) with `filter` (a canonical
    /// rendering of the search keys) at `uid_validity`.
    pub fn new(mailbox: &str, filter: &str, uid_validity: u32) -> Self {
        let digest = Sha256::new()
            .chain_update(mailbox.as_bytes())
            .chain_update([0])
            .chain_update(filter.as_bytes())
            .finalize();
        let mut listing = [0u8; 8];
        listing.copy_from_slice(&digest[..8]);
        Self {
            listing,
            uid_validity,
        }
    }
}

/// Issues and checks cursors.
pub struct CursorCodec {
    key: [u8; 32],
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec")
    }
}

const VERSION: u8 = 1;
const BODY: usize = 1 + 8 + 4 + 4;
const TAG: usize = 16;

impl CursorCodec {
    /// Derives the cursor key from the server secret.
    pub fn new(secret: &SecretString) -> Self {
        Self {
            key: crate::auth::token::derive_key(secret, b"list cursor hmac key"),
        }
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG] {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("BUG: HMAC accepts any key length");
        mac.update(body);
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&mac.finalize().into_bytes()[..TAG]);
        tag
    }

    /// A cursor for the page below `anchor_uid`.
    pub fn encode(&self, scope: &CursorScope, anchor_uid: u32) -> String {
        let mut bytes = Vec::with_capacity(BODY + TAG);
        bytes.push(VERSION);
        bytes.extend_from_slice(&scope.listing);
        bytes.extend_from_slice(&scope.uid_validity.to_be_bytes());
        bytes.extend_from_slice(&anchor_uid.to_be_bytes());
        let tag = self.tag(&bytes);
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks a cursor and returns its anchor UID.
    ///
    /// # Errors
    /// 400 when it is malformed, forged or from another listing; 409 when the
    /// mailbox's UIDVALIDITY changed since it was issued (the client must start over).
    pub fn decode(&self, scope: &CursorScope, cursor: &str) -> Result<u32, ApiError> {
        let invalid = || ApiError::bad_field("cursor", "not a cursor issued by this gateway");
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor.trim())
            .map_err(|_| invalid())?;
        if bytes.len() != BODY + TAG || bytes[0] != VERSION {
            return Err(invalid());
        }
        let (body, tag) = bytes.split_at(BODY);
        // Constant-time comparison through the MAC API.
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("BUG: HMAC accepts any key length");
        mac.update(body);
        if mac.verify_truncated_left(tag).is_err() {
            return Err(invalid());
        }
        if body[1..9] != scope.listing {
            return Err(ApiError::bad_field(
                "cursor",
                "this cursor belongs to another mailbox or filter",
            ));
        }
        let uid_validity = u32::from_be_bytes([body[9], body[10], body[11], body[12]]);
        if uid_validity != scope.uid_validity {
            return Err(ApiError::Conflict {
                detail: "the mailbox's UIDVALIDITY changed since this cursor was issued: list it again from the start".to_owned(),
                slug: "cursor-expired",
            });
        }
        Ok(u32::from_be_bytes([body[13], body[14], body[15], body[16]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let codec = CursorCodec::new(&SecretString::from(
            "a-secret-of-at-least-32-bytes-long!!".to_owned(),
        ));
        let scope = CursorScope::new("INBOX", "", 7);
        let cursor = codec.encode(&scope, 1234);
        assert_eq!(codec.decode(&scope, &cursor).unwrap(), 1234);
        let other_filter = CursorScope::new("INBOX", "UNSEEN", 7);
        assert_eq!(
            codec.decode(&other_filter, &cursor).unwrap_err().status(),
            400
        );
        let new_validity = CursorScope::new("INBOX", "", 8);
        assert_eq!(
            codec.decode(&new_validity, &cursor).unwrap_err().status(),
            409
        );
        let mut forged = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        forged[16] ^= 1;
        assert_eq!(
            codec
                .decode(&scope, &URL_SAFE_NO_PAD.encode(forged))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(codec.decode(&scope, "garbage").unwrap_err().status(), 400);
        let other_key = CursorCodec::new(&SecretString::from(
            "another-secret-of-at-least-32-bytes!!".to_owned(),
        ));
        assert_eq!(other_key.decode(&scope, &cursor).unwrap_err().status(), 400);
    }
}
