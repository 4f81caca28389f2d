//! The `THREAD` response (RFC 5256), which async-imap's parser cannot read: parsed
//! here from the raw line into flat threads, so that a server sending a deeply nested
//! or malformed answer costs an error, never the stack.
//!
//! `(1 (2 4)(5))(3 7)(6)` is three threads: 1 with replies 2 (itself answered by 4)
//! and 5; 3 answered by 7; 6 alone. A list without a leading number, `((1)(2))`,
//! is a thread whose first message is missing: its members are siblings.

use super::error::ImapError;

/// A message in a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadMember {
    /// Its UID.
    pub uid: u32,
    /// The message it answers, when that is in the thread (not for a thread's first
    /// messages).
    pub parent: Option<u32>,
    /// How many ancestors it has in the thread (0 for a first message).
    pub depth: u32,
}

/// One thread: its messages in the server's order (each after its parent).
pub type Thread = Vec<ThreadMember>;

/// Deepest nesting of parentheses accepted (a real thread rarely nests beyond 50).
const MAX_NESTING: usize = 1000;

/// Parses the data of a `* THREAD` line (what follows `THREAD`).
///
/// # Errors
/// [`ImapError::Protocol`] for anything that is not RFC 5256 `thread-list`s: an
/// unbalanced or empty list, a number after a nested list, UID 0, other characters,
/// or nesting beyond [`MAX_NESTING`].
pub fn parse_threads(data: &str) -> Result<Vec<Thread>, ImapError> {
    struct Frame {
        /// Where the next member attaches: the last number of this list so far, or
        /// this list's own parent.
        attach: Option<u32>,
        depth: u32,
        /// A nested list was seen: no more numbers in this list.
        nested_seen: bool,
        /// Anything was seen.
        empty: bool,
    }
    let bad = |why: &str| ImapError::Protocol(format!("malformed THREAD response: {why}"));
    let mut threads: Vec<Thread> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let bytes = data.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' => i += 1,
            b'(' => {
                let frame = match stack.last_mut() {
                    None => {
                        threads.push(Vec::new());
                        Frame {
                            attach: None,
                            depth: 0,
                            nested_seen: false,
                            empty: true,
                        }
                    }
                    Some(parent) => {
                        parent.nested_seen = true;
                        parent.empty = false;
                        Frame {
                            attach: parent.attach,
                            depth: parent.depth,
                            nested_seen: false,
                            empty: true,
                        }
                    }
                };
                if stack.len() >= MAX_NESTING {
                    return Err(bad("nested too deeply"));
                }
                stack.push(frame);
                i += 1;
            }
            b')' => {
                let frame = stack.pop().ok_or_else(|| bad("unbalanced ')'"))?;
                if frame.empty {
                    return Err(bad("an empty list"));
                }
                i += 1;
            }
            b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let uid: u32 = data[start..i]
                    .parse()
                    .map_err(|_| bad("a number too large"))?;
                if uid == 0 {
                    return Err(bad("UID 0"));
                }
                let frame = stack
                    .last_mut()
                    .ok_or_else(|| bad("a number outside a list"))?;
                if frame.nested_seen {
                    return Err(bad("a number after a nested list"));
                }
                threads
                    .last_mut()
                    .ok_or_else(|| bad("a number outside a list"))?
                    .push(ThreadMember {
                        uid,
                        parent: frame.attach,
                        depth: frame.depth,
                    });
                frame.attach = Some(uid);
                frame.depth += 1;
                frame.empty = false;
            }
            other => {
                return Err(bad(&format!(
                    "unexpected character {:?}",
                    char::from(other)
                )))
            }
        }
    }
    if !stack.is_empty() {
        return Err(bad("unbalanced '('"));
    }
    Ok(threads)
}

/// `uid:parent[:depth]` per member (`-` for no parent), threads separated by `|`:
/// how tests state a threading's expected shape.
#[cfg(test)]
pub(crate) fn describe(threads: &[Thread], with_depth: bool) -> String {
    threads
        .iter()
        .map(|thread| {
            thread
                .iter()
                .map(|m| {
                    let parent = m.parent.map_or("-".to_owned(), |p| p.to_string());
                    if with_depth {
                        format!("{}:{parent}:{}", m.uid, m.depth)
                    } else {
                        format!("{}:{parent}", m.uid)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(threads: &[Thread]) -> String {
        describe(threads, true)
    }

    #[test]
    fn known_answers_from_real_servers() {
        // The same seven messages on each server (tests/threads.rs seeds them):
        // `UID THREAD REFERENCES UTF-8 ALL` on Dovecot 2.3, Cyrus 3.6 and Courier 5.
        let references = "(1 (2 4)(5))(3 7)(6)";
        assert_eq!(
            shape(&parse_threads(references).unwrap()),
            "1:-:0 2:1:1 4:2:2 5:1:1 | 3:-:0 7:3:1 | 6:-:0"
        );
        // `THREAD=REFS` on Dovecot and Cyrus (no subject grouping, newest last).
        assert_eq!(
            shape(&parse_threads("(3)(1 (2 4)(5))(6)(7)").unwrap()),
            "3:-:0 | 1:-:0 2:1:1 4:2:2 5:1:1 | 6:-:0 | 7:-:0"
        );
        // `THREAD=ORDEREDSUBJECT`: Dovecot and Cyrus nest, Courier chains.
        assert_eq!(
            shape(&parse_threads("(1 (2)(4)(5))(3 7)(6)").unwrap()),
            "1:-:0 2:1:1 4:1:1 5:1:1 | 3:-:0 7:3:1 | 6:-:0"
        );
        assert_eq!(
            shape(&parse_threads("(1 2 4 5)(3 7)(6)").unwrap()),
            "1:-:0 2:1:1 4:2:2 5:4:3 | 3:-:0 7:3:1 | 6:-:0"
        );
        // An empty mailbox: `* THREAD` with nothing after it.
        assert!(parse_threads("").unwrap().is_empty());
    }

    #[test]
    fn rfc_5256_examples_and_missing_parents() {
        // RFC 5256 section 4's example.
        let rfc = "(2)(3 6 (4 23)(44 7 96))";
        assert_eq!(
            shape(&parse_threads(rfc).unwrap()),
            "2:-:0 | 3:-:0 6:3:1 4:6:2 23:4:3 44:6:2 7:44:3 96:7:4"
        );
        // A missing first message: its replies are siblings at depth 0.
        assert_eq!(
            shape(&parse_threads("((3)(5 8))(9)").unwrap()),
            "3:-:0 5:-:0 8:5:1 | 9:-:0"
        );
    }

    #[test]
    fn malformed_answers_are_errors() {
        for bad in [
            "(1 (2)",
            "(1))",
            "()",
            "(1 (2) 3)",
            "(0)",
            "(1 x)",
            "1",
            "(99999999999)",
            "(1)\r\n(2)",
        ] {
            assert!(parse_threads(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
        assert!(parse_threads(&deep).is_err());
        // A long chain is flat data, not recursion.
        let chain: Vec<String> = (1..=20_000).map(|n| n.to_string()).collect();
        let threads = parse_threads(&format!("({})", chain.join(" "))).unwrap();
        assert_eq!(threads[0].len(), 20_000);
        assert_eq!(threads[0][19_999].depth, 19_999);
    }
}
