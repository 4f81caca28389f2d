//! Cursors, state tokens and access tokens from clients: arbitrary text never
//! panics and never verifies (they are MACed / signed and sealed).
#![no_main]

use imap_gateway::auth::TokenService;
use imap_gateway::mail::{CursorScope, TokenCodec};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let secret = SecretString::from("fuzzing-secret-0123456789abcdef0123".to_owned());
    let codec = TokenCodec::new(&secret);
    let scope = CursorScope::new("INBOX", "", 1);
    assert!(codec.decode_cursor(&scope, text).is_err());
    assert!(codec.decode_state("since", "INBOX", text).is_err());
    let tokens = TokenService::new(&secret, "imap://127.0.0.1:143");
    assert!(tokens.verify(text).is_err());
});
