//! The `ESEARCH` response (RFC 4731), which async-imap's parser cannot read: the
//! matches of `UID SEARCH RETURN (ALL)` as one sequence set.

use super::error::ImapError;
use super::uid::UidSet;

/// The `ALL` set of the data of a `* ESEARCH` line (what follows `ESEARCH`): `None`
/// when nothing matched (the server then leaves `ALL` out).
///
/// # Errors
/// [`ImapError::Protocol`] when the data is not `[(TAG "…")] [UID] *(name SP value)`
/// or `ALL` is not a sequence set.
pub fn parse_esearch_all(data: &str) -> Result<Option<UidSet>, ImapError> {
    let bad = |why: &str| ImapError::Protocol(format!("malformed ESEARCH response: {why}"));
    let mut rest = data.trim();
    if let Some(after) = rest.strip_prefix('(') {
        // The correlator: `(TAG "a12")`; a quoted tag holds no `)`.
        let close = after.find(')').ok_or_else(|| bad("unclosed correlator"))?;
        rest = after[close + 1..].trim_start();
    }
    let mut words = rest.split_ascii_whitespace();
    let mut all = None;
    let mut next = words.next();
    if next.is_some_and(|w| w.eq_ignore_ascii_case("UID")) {
        next = words.next();
    }
    while let Some(name) = next {
        let value = words.next().ok_or_else(|| bad("a name without a value"))?;
        if name.eq_ignore_ascii_case("ALL") {
            all = Some(UidSet::parse_from_server(value).ok_or_else(|| bad("ALL is not a set"))?);
        } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(bad("an unexpected item"));
        }
        next = words.next();
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(data: &str) -> Option<Vec<(u32, u32)>> {
        parse_esearch_all(data)
            .unwrap()
            .map(|set| set.ranges().to_vec())
    }

    #[test]
    fn known_answers_from_real_servers() {
        // Dovecot 2.3 and Cyrus 3.6 (`UID SEARCH RETURN (...)`; Courier has no ESEARCH).
        assert_eq!(
            ranges(r#"(TAG "t16") UID MIN 1 MAX 7 ALL 1:7 COUNT 7"#),
            Some(vec![(1, 7)])
        );
        assert_eq!(
            ranges(r#"(TAG "t16") UID COUNT 7 MIN 1 MAX 7 ALL 1:7"#),
            Some(vec![(1, 7)])
        );
        assert_eq!(
            ranges(r#"(TAG "t17") UID ALL 1:2,4:5"#),
            Some(vec![(1, 2), (4, 5)])
        );
        // Nothing matched: no ALL.
        assert_eq!(ranges(r#"(TAG "t18") UID COUNT 0"#), None);
        assert_eq!(ranges(r#"(TAG "t18") UID"#), None);
    }

    #[test]
    fn malformed_answers_are_errors() {
        for bad in [
            r#"(TAG "t1" UID ALL 1:3"#,
            r#"(TAG "t1") UID ALL"#,
            r#"(TAG "t1") UID ALL 0:3"#,
            r#"(TAG "t1") UID ALL 1:x"#,
            r#"(TAG "t1") UID ALL 1:3 {5}"#,
        ] {
            assert!(parse_esearch_all(bad).is_err(), "{bad}");
        }
        let many: Vec<String> = (1..=50_000).map(|n| (n * 2).to_string()).collect();
        let set = parse_esearch_all(&format!("UID ALL {}", many.join(",")))
            .unwrap()
            .unwrap();
        assert_eq!(set.len(), 50_000);
    }
}
