//! Bounds on what an IMAP server may send, enforced on the byte stream before any
//! parser sees it.
//!
//! async-imap buffers a whole response (literals included) before imap-proto parses
//! it, and imap-proto parses nested lists by recursion: a server that answers FETCH
//! with a BODYSTRUCTURE nested 200,000 parentheses deep overflows the stack of the
//! task parsing it, which aborts the whole process, and one that announces a 4 GiB
//! literal makes the gateway buffer whatever it then sends. [`Guarded`] wraps the
//! connection (below async-imap and the raw readers, above TLS) and follows the
//! response syntax lexically: parentheses outside quoted strings and literals, the
//! length of a line outside its literals, and each literal's announced size. A
//! response past a bound is a read error: the session that read it ends (the pool
//! discards it and the request answers 502), the process and every other session go
//! on.
//!
//! The bounds are above what a real server sends: Dovecot's message parser stops at
//! 100 nested MIME parts (its limit since the fix for CVE-2020-12100), and a part's
//! own lists add three levels, so its BODYSTRUCTUREs stay under [`MAX_NESTING`]; the binary's runtime threads have stacks deep enough for
//! imap-proto's recursive parser at that depth (`src/main.rs`); the largest
//! literal the gateway reads whole is a message body; a plain `UID SEARCH` answer for
//! a million messages is a line of about 7 MB.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Deepest parenthesis nesting accepted in one response.
pub const MAX_NESTING: u32 = 128;
/// Largest literal accepted (`{n}`): bigger than any message the gateway reads whole.
pub const MAX_LITERAL: u64 = 256 << 20;
/// Longest response line accepted, not counting its literals.
pub const MAX_LINE: u64 = 32 << 20;

/// Where the scanner is in the response syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between tokens.
    Normal,
    /// Inside a quoted string.
    Quoted,
    /// After a backslash inside a quoted string.
    Escaped,
    /// Inside `{digits`: a literal's size, so far.
    Size(u64),
    /// After `{n}` (and `+`), before its CRLF.
    SizeEnd(u64),
    /// Inside a literal: bytes still to come.
    Literal(u64),
}

/// The lexical scanner behind [`Guarded`]; usable on its own (and tested so).
#[derive(Debug, Clone)]
pub struct Scanner {
    state: State,
    depth: u32,
    /// Bytes of the current line so far (0: at the start of a line).
    line: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            state: State::Normal,
            depth: 0,
            line: 0,
        }
    }
}

/// A bound the server went past: where in the bytes fed, and which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// Offset of the first byte past the bound, in the bytes given to
    /// [`Scanner::feed`]; the bytes before it were within the bounds.
    pub at: usize,
    /// Which bound, worded for logs.
    pub reason: &'static str,
}

impl Scanner {
    /// Follows `bytes`, the next bytes the server sent.
    ///
    /// # Errors
    /// Which bound the server went past, and where.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Violation> {
        let mut i = 0;
        let fail = |i: usize, reason| Err(Violation { at: i - 1, reason });
        while i < bytes.len() {
            if let State::Literal(left) = self.state {
                // Literal bytes are data, not syntax: skip them in one step.
                let take = left.min((bytes.len() - i) as u64);
                i += usize::try_from(take).expect("BUG: take is at most a slice length");
                let left = left - take;
                self.state = if left == 0 {
                    State::Normal
                } else {
                    State::Literal(left)
                };
                continue;
            }
            // Most bytes are plain text (atoms, numbers, quoted strings): skip them in
            // one step to the next byte that means something in this state, counting
            // them into the line. The first byte of a line is always looked at.
            if self.line > 0 {
                let rest = &bytes[i..];
                let plain = match self.state {
                    State::Normal => {
                        // The second search only up to the first's hit, so each byte
                        // is looked at a bounded number of times.
                        let list = memchr::memchr3(b'(', b')', b'"', rest).unwrap_or(rest.len());
                        memchr::memchr2(b'{', b'\n', &rest[..list]).unwrap_or(list)
                    }
                    State::Quoted => {
                        memchr::memchr3(b'"', b'\\', b'\n', rest).unwrap_or(rest.len())
                    }
                    _ => 0,
                };
                if plain > 0 {
                    let room = MAX_LINE.saturating_sub(self.line);
                    if plain as u64 > room {
                        return Err(Violation {
                            at: i + usize::try_from(room).expect("BUG: room < plain"),
                            reason: "a response line is longer than the gateway accepts",
                        });
                    }
                    self.line += plain as u64;
                    i += plain;
                    continue;
                }
            }
            let byte = bytes[i];
            i += 1;
            if byte == b'\n' && !matches!(self.state, State::SizeEnd(_)) {
                // The end of a response line (a stray LF inside a quoted string, which
                // no valid response has, ends it too, so nothing spans lines).
                self.state = State::Normal;
                self.depth = 0;
                self.line = 0;
                continue;
            }
            if self.line == 0 && self.state == State::Normal && !starts_a_response(byte) {
                return fail(
                    i,
                    "a response line starts with what no IMAP response starts with",
                );
            }
            self.line += 1;
            if self.line > MAX_LINE {
                return fail(i, "a response line is longer than the gateway accepts");
            }
            self.state = match (self.state, byte) {
                (State::Normal, b'(') => {
                    self.depth += 1;
                    if self.depth > MAX_NESTING {
                        return fail(i, "a response nests lists deeper than the gateway accepts");
                    }
                    State::Normal
                }
                (State::Normal, b')') => {
                    self.depth = self.depth.saturating_sub(1);
                    State::Normal
                }
                (State::Normal, b'"') => State::Quoted,
                (State::Normal, b'{') => State::Size(0),
                (State::Normal, _) => State::Normal,
                (State::Quoted, b'\\') => State::Escaped,
                (State::Quoted, b'"') => State::Normal,
                (State::Quoted, _) | (State::Escaped, _) => State::Quoted,
                (State::Size(n), b'0'..=b'9') => {
                    match n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(byte - b'0')))
                        .filter(|n| *n <= MAX_LITERAL)
                    {
                        Some(n) => State::Size(n),
                        None => return fail(i, "a literal is larger than the gateway accepts"),
                    }
                }
                (State::Size(n), b'+') => State::Size(n),
                (State::Size(n), b'}') => State::SizeEnd(n),
                (State::SizeEnd(n), b'\r') => State::SizeEnd(n),
                (State::SizeEnd(0), b'\n') => State::Normal,
                (State::SizeEnd(n), b'\n') => State::Literal(n),
                // A `{` that began no literal (text such as `* OK {x}`): the byte is
                // read again as ordinary syntax.
                (State::Size(_) | State::SizeEnd(_), _) => {
                    i -= 1;
                    self.line -= 1;
                    State::Normal
                }
                (State::Literal(_), _) => unreachable!("BUG: literals are skipped above"),
            };
        }
        Ok(())
    }
}

/// Every response line starts with `*` (untagged), `+` (continuation) or a tag (the
/// gateway's tags are letters and digits).
fn starts_a_response(byte: u8) -> bool {
    byte == b'*' || byte == b'+' || byte.is_ascii_alphanumeric()
}

/// A connection whose incoming bytes are held to the bounds above (see the module
/// documentation). Writes pass through untouched.
#[derive(Debug)]
pub struct Guarded<S> {
    inner: S,
    scanner: Scanner,
    failed: Option<&'static str>,
    /// Cleared once the stream carries TLS (after STARTTLS): the guard then passes
    /// bytes through, and a new guard above TLS takes over.
    armed: Arc<AtomicBool>,
}

impl<S> Guarded<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            scanner: Scanner::default(),
            failed: None,
            armed: Arc::new(AtomicBool::new(true)),
        }
    }

    /// A switch that turns this guard off, for when the connection turns to TLS
    /// (its bytes are then ciphertext, held to the bounds by the guard above TLS).
    pub fn disarm_switch(&self) -> Disarm {
        Disarm(self.armed.clone())
    }
}

/// Turns one [`Guarded`] off ([`Guarded::disarm_switch`]).
#[derive(Debug)]
pub struct Disarm(Arc<AtomicBool>);

impl Disarm {
    /// Lets every later byte through unchecked.
    pub fn disarm(self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

fn violation(reason: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(reason) = self.failed {
            return Poll::Ready(Err(violation(reason)));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        if !this.armed.load(Ordering::SeqCst) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let Err(Violation { at, reason }) = this.scanner.feed(&buf.filled()[before..]) {
                    // Nothing past the bound reaches a parser; what came before it
                    // (a complete answer followed by garbage, say) still does, and
                    // the next read fails.
                    buf.set_filled(before + at);
                    this.failed = Some(reason);
                    tracing::warn!(reason, "IMAP server response refused; ending the session");
                    metrics::counter!("imap_responses_refused_total").increment(1);
                    if at == 0 {
                        return Poll::Ready(Err(violation(reason)));
                    }
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Result<(), &'static str> {
        let mut scanner = Scanner::default();
        chunks
            .iter()
            .try_for_each(|chunk| scanner.feed(chunk))
            .map_err(|v| v.reason)
    }

    #[test]
    fn real_responses_pass() {
        let structure = b"* 1 FETCH (UID 7 BODYSTRUCTURE ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 3 1 NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a (1).pdf\") NIL NIL \"base64\" 10 NIL (\"attachment\" (\"filename\" \"a)(.pdf\")) NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL))\r\n";
        assert_eq!(scan(&[structure]), Ok(()));
        // Parentheses inside a literal are data.
        let literal = b"* 1 FETCH (BODY[] {14}\r\n((((((((((((\r\n)\r\na1 OK done\r\n";
        assert_eq!(scan(&[literal]), Ok(()));
        // The same split anywhere.
        for split in 1..literal.len() {
            assert_eq!(
                scan(&[&literal[..split], &literal[split..]]),
                Ok(()),
                "{split}"
            );
        }
        // A `{` that is no literal, and quoted parentheses and quotes.
        assert_eq!(
            scan(&[b"* OK {not a literal} \"(\\\"(\" (a)\r\n* OK x\r\n"]),
            Ok(())
        );
        assert_eq!(scan(&[b"+ go ahead\r\nA0001 OK done\r\n"]), Ok(()));
    }

    #[test]
    fn garbage_after_an_answer_is_cut_where_it_starts() {
        let answer = b"A0002 OK fetched\r\n";
        let mut bytes = answer.to_vec();
        bytes.extend_from_slice(b")))((( garbage\r\n");
        let mut scanner = Scanner::default();
        let violation = scanner.feed(&bytes).unwrap_err();
        assert_eq!(violation.at, answer.len());
        assert!(scan(&[b"\x00* OK\r\n"]).is_err());
        assert!(scan(&[b" A0001 OK\r\n"]).is_err());
    }

    #[test]
    fn nesting_is_bounded_per_response() {
        let deep = |n: usize| {
            let mut line = b"* 1 FETCH (BODYSTRUCTURE ".to_vec();
            line.extend(std::iter::repeat_n(b'(', n));
            line.extend(std::iter::repeat_n(b')', n));
            line.extend_from_slice(b")\r\n");
            line
        };
        assert_eq!(scan(&[&deep(MAX_NESTING as usize - 1)]), Ok(()));
        assert!(scan(&[&deep(MAX_NESTING as usize)]).is_err());
        assert!(scan(&[&deep(200_000)]).is_err());
        // Depth does not carry over from one line to the next.
        let many = deep(MAX_NESTING as usize - 1).repeat(3);
        assert_eq!(scan(&[&many]), Ok(()));
        // Nor does an unbalanced line leave its depth behind.
        let mut open = b"* 1 FETCH ".to_vec();
        open.extend(std::iter::repeat_n(b'(', MAX_NESTING as usize - 1));
        open.extend_from_slice(b"\r\n");
        assert_eq!(scan(&[&open, &open, &open]), Ok(()));
    }

    #[test]
    fn literal_sizes_are_bounded() {
        assert!(scan(&[b"* 1 FETCH (BODY[] {18446744073709551615}\r\n"]).is_err());
        assert!(scan(&[b"* 1 FETCH (BODY[] {99999999999999999999999}\r\n"]).is_err());
        assert!(scan(&[b"* 1 FETCH (BODY[] {4294967296}\r\n"]).is_err());
        assert_eq!(
            scan(&[format!("* {{{MAX_LITERAL}}}\r\n").as_bytes()]),
            Ok(())
        );
        let over = MAX_LITERAL + 1;
        assert!(scan(&[format!("* {{{over}}}\r\n").as_bytes()]).is_err());
    }

    #[test]
    fn lines_are_bounded_outside_literals() {
        let mut scanner = Scanner::default();
        let chunk = vec![b'1'; 1 << 20];
        let mut failed = false;
        scanner.feed(b"* ").unwrap();
        for _ in 0..=(MAX_LINE >> 20) {
            failed |= scanner.feed(&chunk).is_err();
        }
        assert!(failed);
        // A literal of the same size on a short line is fine.
        let mut scanner = Scanner::default();
        let size = MAX_LINE + 10;
        scanner
            .feed(format!("* 1 FETCH (BODY[] {{{size}}}\r\n").as_bytes())
            .unwrap();
        let mut left = size as usize;
        while left > 0 {
            let n = left.min(chunk.len());
            scanner.feed(&chunk[..n]).unwrap();
            left -= n;
        }
        assert_eq!(scanner.feed(b")\r\n"), Ok(()));
    }
}
