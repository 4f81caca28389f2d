//! Known-answer tests: input → exact bytes of the rendered command.

use super::*;
use crate::imap::search::{SearchDate, SearchText};
use crate::imap::uid::Uid;

fn name(s: &str) -> ServerMailbox {
    let name = crate::imap::MailboxName::try_from(s).unwrap();
    crate::imap::profile::Naming::default()
        .to_server(&name)
        .unwrap()
}

fn wire(command: &Command<'_>, literal_plus: bool) -> String {
    String::from_utf8(command.to_wire(literal_plus)).unwrap()
}

#[test]
fn known_answers_for_the_adversarial_corpus() {
    let cases = [
        ("a\"b", "SELECT \"a\\\"b\"\r\n"),
        ("a\\b", "SELECT \"a\\\\b\"\r\n"),
        ("{5}", "SELECT \"{5}\"\r\n"),
        ("&", "SELECT \"&-\"\r\n"),
        ("inbox", "SELECT \"INBOX\"\r\n"),
        ("Entwürfe", "SELECT \"Entw&APw-rfe\"\r\n"),
        ("📧 mail", "SELECT \"&2D3c5w- mail\"\r\n"),
    ];
    for (input, want) in cases {
        assert_eq!(
            wire(&Command::Select(&name(input)), true),
            want,
            "{input:?}"
        );
    }
}

#[test]
fn renders_mailbox_commands() {
    let a = name("Projects/2026");
    let b = name("Archive");
    let items = [StatusItem::Messages, StatusItem::UidNext];
    assert_eq!(
        wire(&Command::Rename(&a, &b), true),
        "RENAME \"Projects/2026\" \"Archive\"\r\n"
    );
    assert_eq!(
        wire(&Command::Status(&b, &items), true),
        "STATUS \"Archive\" (MESSAGES UIDNEXT)\r\n"
    );
    assert_eq!(
        wire(
            &Command::List(ListPattern::All, ListReturn::default()),
            true
        ),
        "LIST \"\" \"*\"\r\n"
    );
    let returns = ListReturn {
        subscribed: true,
        special_use: true,
        children: true,
        status: &items,
    };
    assert_eq!(
        wire(&Command::List(ListPattern::Exactly(&a), returns), true),
        "LIST \"\" \"Projects/2026\" RETURN (SUBSCRIBED SPECIAL-USE CHILDREN STATUS (MESSAGES UIDNEXT))\r\n"
    );
    assert_eq!(
        wire(&Command::Lsub(ListPattern::All), true),
        "LSUB \"\" \"*\"\r\n"
    );
    assert_eq!(wire(&Command::Unselect, true), "UNSELECT\r\n");
}

fn text(s: &str) -> SearchText {
    SearchText::new("q", s).unwrap()
}

#[test]
fn search_text_is_quoted_or_a_literal_never_syntax() {
    let ascii = [SearchKey::Subject(text("a\"b\\c {5}")), SearchKey::Unseen];
    assert_eq!(
        wire(&Command::UidSearch(&ascii), true),
        "UID SEARCH SUBJECT \"a\\\"b\\\\c {5}\" UNSEEN\r\n"
    );
    let injection = [SearchKey::From(text("x\" DELETE INBOX \""))];
    assert_eq!(
        wire(&Command::UidSearch(&injection), true),
        "UID SEARCH FROM \"x\\\" DELETE INBOX \\\"\"\r\n"
    );
    let utf8 = [
        SearchKey::Subject(text("Grüße")),
        SearchKey::From(text("ada")),
    ];
    assert_eq!(
        wire(&Command::UidSearch(&utf8), true),
        "UID SEARCH CHARSET UTF-8 SUBJECT {7+}\r\nGrüße FROM \"ada\"\r\n"
    );
    let chunks = Command::UidSearch(&utf8).render(false);
    assert_eq!(
        chunks[0],
        Chunk::Line("UID SEARCH CHARSET UTF-8 SUBJECT {7}".into())
    );
    assert_eq!(chunks[1], Chunk::Literal("Grüße".as_bytes()));
    assert_eq!(chunks[2], Chunk::Line(" FROM \"ada\"".into()));
    assert_eq!(wire(&Command::UidSearch(&[]), true), "UID SEARCH ALL\r\n");
    let dated = [
        SearchKey::Since(SearchDate::parse("since", "2026-01-02").unwrap()),
        SearchKey::Larger(100),
        SearchKey::Keyword(Flag::try_from("$Work").unwrap()),
        SearchKey::Uid(UidSet::range(1, 10).unwrap()),
    ];
    assert_eq!(
        wire(&Command::UidSearch(&dated), true),
        "UID SEARCH SINCE 2-Jan-2026 LARGER 100 KEYWORD $Work UID 1:10\r\n"
    );
}

#[test]
fn renders_message_commands() {
    let uids = UidSet::from_uids([Uid::try_from(3).unwrap(), Uid::try_from(4).unwrap()]).unwrap();
    let part = PartNumber::try_from("2.1").unwrap();
    let items = [
        FetchItem::Uid,
        FetchItem::Flags,
        FetchItem::Body(Section::PartMime(&part), None),
        FetchItem::Body(Section::Part(&part), Some((0, 1024))),
    ];
    assert_eq!(
        wire(&Command::UidFetch(&uids, &items), true),
        "UID FETCH 3:4 (UID FLAGS BODY.PEEK[2.1.MIME] BODY.PEEK[2.1]<0.1024>)\r\n"
    );
    assert_eq!(
        wire(
            &Command::FetchSeq(
                NonZeroU32::new(5).unwrap(),
                NonZeroU32::new(9).unwrap(),
                &[FetchItem::Uid]
            ),
            true
        ),
        "FETCH 5:9 (UID)\r\n"
    );
    let flags = [Flag::Seen, Flag::try_from("$Label1").unwrap()];
    let store = Command::UidStore {
        uids: &uids,
        mode: StoreMode::Add,
        flags: &flags,
        unchanged_since: Some(42),
    };
    assert_eq!(
        wire(&store, true),
        "UID STORE 3:4 (UNCHANGEDSINCE 42) +FLAGS (\\Seen $Label1)\r\n"
    );
    let trash = name("Trash");
    assert_eq!(
        wire(&Command::UidMove(&uids, &trash), true),
        "UID MOVE 3:4 \"Trash\"\r\n"
    );
    assert_eq!(
        wire(&Command::UidExpunge(&uids), true),
        "UID EXPUNGE 3:4\r\n"
    );
    let date = InternalDate::parse_rfc3339("d", "2026-11-26T09:30:00Z").unwrap();
    let append = Command::Append {
        mailbox: &trash,
        flags: &[Flag::Seen],
        internal_date: Some(&date),
        message: b"Subject: x\r\n\r\nhi\r\n",
    };
    assert_eq!(
        wire(&append, true),
        "APPEND \"Trash\" (\\Seen) \"26-Nov-2026 09:30:00 +0000\" {18+}\r\nSubject: x\r\n\r\nhi\r\n\r\n"
    );
    assert_eq!(
        wire(&append, false),
        "APPEND \"Trash\" (\\Seen) \"26-Nov-2026 09:30:00 +0000\" {18}\r\nSubject: x\r\n\r\nhi\r\n\r\n"
    );
}

#[test]
fn id_identifies_the_gateway_and_optionally_the_client() {
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        Command::Id.to_wire(false),
        format!("ID (\"name\" \"imap-gateway\" \"version\" \"{version}\")\r\n").into_bytes()
    );
    assert_eq!(
        id_parameters(Some("203.0.113.9".parse().unwrap())),
        format!("(\"name\" \"imap-gateway\" \"version\" \"{version}\" \"x-originating-ip\" \"203.0.113.9\")")
    );
    assert!(id_parameters(Some("2001:db8::1".parse().unwrap()))
        .ends_with("\"x-originating-ip\" \"2001:db8::1\")"));
}

#[test]
fn a_filter_has_one_canonical_text() {
    use crate::imap::search::SearchText;
    let keys = [
        SearchKey::Unseen,
        SearchKey::Subject(SearchText::new("subject", "Grüße \"x\"").unwrap()),
    ];
    assert_eq!(
        search_criteria(&keys),
        "UID SEARCH CHARSET UTF-8 UNSEEN SUBJECT {11+}\r\nGrüße \"x\"\r\n"
    );
    assert_ne!(search_criteria(&keys[..1]), search_criteria(&keys));
}

#[test]
fn renders_sort_thread_esearch_and_reply_searches() {
    let keys = [SearchKey::Unseen];
    assert_eq!(
        wire(&Command::UidSearchAll(&keys), true),
        "UID SEARCH RETURN (ALL) UNSEEN\r\n"
    );
    assert_eq!(
        wire(
            &Command::UidSort {
                key: SortKey::Date,
                reverse: true,
                keys: &[]
            },
            true
        ),
        "UID SORT (REVERSE DATE) UTF-8 ALL\r\n"
    );
    let below = crate::imap::UidSet::range(1, 99).unwrap();
    assert_eq!(
        wire(
            &Command::UidThread(ThreadAlgorithm::Refs, Some(&below)),
            true
        ),
        "UID THREAD REFS UTF-8 UID 1:99\r\n"
    );
    let ids = vec![
        SearchText::new("id", "<a@x>").unwrap(),
        SearchText::new("id", "<b\"@x>").unwrap(),
    ];
    assert_eq!(
        wire(&Command::UidSearch(&[SearchKey::RepliesTo(ids)]), true),
        "UID SEARCH OR HEADER In-Reply-To \"<a@x>\" OR HEADER References \"<a@x>\" \
         OR HEADER In-Reply-To \"<b\\\"@x>\" HEADER References \"<b\\\"@x>\"\r\n"
    );
}
