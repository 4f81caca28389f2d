//! Modified UTF-7 (RFC 3501 5.1.3): any UTF-8 name encodes to printable ASCII and
//! decodes back to itself; decoding arbitrary server bytes never panics, and what it
//! accepts re-encodes to the same wire form.
#![no_main]

use imap_gateway::imap::utf7::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let wire = encode(text);
    assert!(wire.bytes().all(|b| (0x20..0x7F).contains(&b)), "{wire:?}");
    assert_eq!(
        decode(&wire).as_deref(),
        Some(text),
        "round trip of {text:?}"
    );
    if let Some(decoded) = decode(text) {
        assert_eq!(encode(&decoded), text, "canonical form of {text:?}");
    }
});
