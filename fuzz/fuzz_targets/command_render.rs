//! Whatever text users send, a rendered command frames correctly: every line is
//! free of CR, LF and NUL, every literal announces exactly the bytes that follow,
//! and nothing follows the command's final line. That is what keeps user text from
//! ever becoming IMAP syntax (STYLE.md B4).
#![no_main]

use imap_gateway::imap::command::{Command, StatusItem, StoreMode};
use imap_gateway::imap::search::{SearchKey, SearchText};
use imap_gateway::imap::profile::Naming;
use imap_gateway::imap::{Flag, MailboxName, Uid, UidSet};
use libfuzzer_sys::fuzz_target;

/// Splits the input into the pieces a request could carry.
fn pieces(data: &[u8]) -> Vec<String> {
    data.split(|b| *b == 0xFF)
        .map(|piece| String::from_utf8_lossy(piece).into_owned())
        .collect()
}

fn check_framing(wire: &[u8]) {
    let mut rest = wire;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("every line ends with CRLF");
        let line = &rest[..end];
        assert!(
            !line.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "CR, LF or NUL inside a command line: {:?}",
            String::from_utf8_lossy(line)
        );
        rest = &rest[end + 2..];
        let literal = line.strip_suffix(b"}").and_then(|head| {
            let open = head.iter().rposition(|b| *b == b'{')?;
            let digits = &head[open + 1..];
            let digits = digits.strip_suffix(b"+").unwrap_or(digits);
            std::str::from_utf8(digits).ok()?.parse::<usize>().ok()
        });
        match literal {
            Some(size) => {
                assert!(rest.len() >= size, "a literal announces more than follows");
                rest = &rest[size..];
            }
            None => {
                assert!(rest.is_empty(), "bytes after the command's last line");
                return;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let pieces = pieces(data);
    let text = |i: usize| pieces.get(i).map_or("", String::as_str);
    // Names as a Cyrus/Courier-style server spells them (prefix `INBOX.`, `.` between
    // levels), or as a `/` server does, chosen by the input.
    let naming = if data.first().is_some_and(|b| b % 2 == 0) {
        Naming::new("INBOX.", Some('.'))
    } else {
        Naming::default()
    };
    let server = |i: usize| {
        MailboxName::try_from(text(i))
            .ok()
            .and_then(|name| naming.to_server(&name).ok())
    };
    let mailbox = server(0);
    let other = server(1);
    if let Some(name) = &mailbox {
        assert!(!name.wire().bytes().any(|b| b < 0x20 || b >= 0x7F));
    }
    let flag = Flag::try_from(text(2)).ok();
    let flags: Vec<Flag> = flag.into_iter().collect();
    let mut keys = Vec::new();
    for field in [3, 4] {
        if let Ok(search) = SearchText::new("q", text(field)) {
            keys.push(SearchKey::Subject(search.clone()));
            keys.push(SearchKey::Text(search));
        }
    }
    if let Some(flag) = flags.first() {
        keys.push(SearchKey::Keyword(flag.clone()));
    }
    let uids = UidSet::single(Uid::try_from(1 + (data.len() as u32 % 1000)).unwrap());
    let message = text(5).as_bytes();

    let mut commands = vec![Command::UidSearch(&keys)];
    let status = [StatusItem::Messages, StatusItem::UidNext];
    if let Some(name) = &mailbox {
        commands.extend([
            Command::Select(name),
            Command::Create(name),
            Command::Status(name, &status),
            Command::UidCopy(&uids, name),
            Command::Append {
                mailbox: name,
                flags: &flags,
                internal_date: None,
                message,
            },
        ]);
        if let Some(to) = &other {
            commands.push(Command::Rename(name, to));
        }
    }
    commands.push(Command::UidStore {
        uids: &uids,
        mode: StoreMode::Add,
        flags: &flags,
        unchanged_since: Some(7),
    });
    for command in commands {
        for literal_plus in [true, false] {
            check_framing(&command.to_wire(literal_plus));
        }
    }
});
