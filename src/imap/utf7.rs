//! Modified UTF-7 mailbox-name encoding (RFC 3501 section 5.1.3).
//!
//! IMAP servers without `UTF8=ACCEPT` exchange mailbox names in modified UTF-7:
//! printable ASCII stands for itself (`&` becomes `&-`), and every other run of
//! characters becomes `&` + modified BASE64 of its UTF-16BE code units + `-`.
//! We iterate `encode_utf16()` so characters outside the BMP (📧) become surrogate
//! pairs and survive the round trip, which a `ch as u16` shortcut would break.

use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

/// RFC 3501's modified BASE64: `,` instead of `/`, no padding. Built once: building
/// the engine's decode table costs more than encoding a name (it was 6% of the
/// gateway's CPU in the benchmark, once per mailbox name).
static ENGINE: std::sync::LazyLock<GeneralPurpose> = std::sync::LazyLock::new(|| {
    // The alphabet literal is a constant that is known to be valid.
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .expect("BUG: modified base64 alphabet is valid");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(false),
    )
});

fn engine() -> &'static GeneralPurpose {
    &ENGINE
}

fn is_direct(ch: char) -> bool {
    (' '..='~').contains(&ch)
}

/// Encodes a UTF-8 mailbox name to modified UTF-7. The result is printable ASCII.
pub fn encode(name: &str) -> String {
    let engine = engine();
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|unit| unit.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine.encode(bytes));
        out.push('-');
        pending.clear();
    };
    for ch in name.chars() {
        if is_direct(ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut units = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decodes a modified UTF-7 name. Returns `None` when the input is not valid
/// modified UTF-7, so the caller can fall back to showing the raw name.
pub fn decode(wire: &str) -> Option<String> {
    let engine = engine();
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(start) = rest.find('&') {
        let (direct, tail) = rest.split_at(start);
        if !direct.chars().all(is_direct) {
            return None;
        }
        out.push_str(direct);
        let tail = &tail[1..];
        let end = tail.find('-')?;
        let encoded = &tail[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = engine.decode(encoded).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            let decoded = String::from_utf16(&units).ok()?;
            // A shift sequence must not encode what could have been sent directly.
            if decoded.chars().any(is_direct) {
                return None;
            }
            out.push_str(&decoded);
        }
        rest = &tail[end + 1..];
    }
    if !rest.chars().all(is_direct) {
        return None;
    }
    out.push_str(rest);
    // Only the canonical form is accepted (RFC 3501 5.1.3 forbids, for example, two
    // adjacent shift sequences): the gateway addresses a mailbox by re-encoding its
    // decoded name, which must give back exactly the server's name. Found by fuzzing.
    (encode(&out) == wire).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_canonical_forms_are_not_decoded() {
        // Two adjacent shift sequences (the encoder would have merged them).
        assert_eq!(decode("&AOQ-&APY-"), None);
        assert_eq!(decode("&AOQA9g-").as_deref(), Some("äö"));
    }

    #[test]
    fn known_answers() {
        let cases = [
            ("INBOX", "INBOX"),
            ("&", "&-"),
            ("a&b", "a&-b"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("日本語", "&ZeVnLIqe-"),
            ("Προσωπικά", "&A6ADwQO,A8MDyQPAA7kDugOs-"),
            ("📧 mail", "&2D3c5w- mail"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ];
        for (utf8, wire) in cases {
            assert_eq!(encode(utf8), wire, "encode {utf8}");
            assert_eq!(decode(wire).as_deref(), Some(utf8), "decode {wire}");
        }
    }

    #[test]
    fn rejects_invalid_input() {
        for bad in ["&", "&Jjo", "&AGE-", "&2D3c5", "é", "&Jjo!-"] {
            assert_eq!(decode(bad), None, "{bad:?} must not decode");
        }
    }

    #[test]
    fn round_trips_outside_the_bmp() {
        let name = "🎉 Party 🎉/Ünïcödé & more";
        assert_eq!(decode(&encode(name)).as_deref(), Some(name));
        assert!(encode(name)
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' '));
    }
}
