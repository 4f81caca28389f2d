//! Session behaviour on scripted server bytes: the view of the selected mailbox
//! (counts, declared mod-sequences, a lost selection).

use super::*;
use crate::imap::test_server::{next_tag, reply, session, Server};
use crate::imap::StoreMode;

/// Answers the next command with `answer` (`{tag}` replaced by its tag).
async fn answer(server: &mut Server, answer: &str) {
    let tag = next_tag(server).await;
    reply(server, &answer.replace("{tag}", &tag)).await;
}

/// An [`ImapSession`] on a scripted server without NAMESPACE, with INBOX examined
/// (10 messages).
async fn examined() -> (
    ImapSession,
    tokio::task::JoinHandle<Server>,
    tokio::sync::mpsc::Sender<&'static str>,
) {
    let (inner, mut server) = session().await;
    let (script, mut lines) = tokio::sync::mpsc::channel::<&'static str>(8);
    let task = tokio::spawn(async move {
        answer(
            &mut server,
            "* CAPABILITY IMAP4rev1 CONDSTORE QRESYNC\r\n{tag} OK\r\n",
        )
        .await;
        answer(&mut server, "* LIST () \"/\" \"\"\r\n{tag} OK\r\n").await;
        answer(&mut server, "* ENABLED QRESYNC\r\n{tag} OK\r\n").await;
        answer(
            &mut server,
            "* 10 EXISTS\r\n* OK [UIDVALIDITY 5] ok\r\n* OK [UIDNEXT 11] next\r\n\
             * OK [HIGHESTMODSEQ 40] modseq\r\n{tag} OK [READ-ONLY] done\r\n",
        )
        .await;
        while let Some(next) = lines.recv().await {
            answer(&mut server, next).await;
        }
        server
    });
    let mut imap = ImapSession::start(inner, "Dovecot ready.", true, Duration::from_secs(5))
        .await
        .unwrap();
    let inbox = MailboxName::try_from("INBOX").unwrap();
    imap.ensure_selected(&inbox, true).await.unwrap();
    (imap, task, script)
}

#[tokio::test]
async fn expunges_and_vanished_keep_the_message_count() {
    let (mut imap, _task, script) = examined().await;
    assert_eq!(imap.selected().unwrap().exists, Some(10));
    assert_eq!(imap.selected().unwrap().uid_validity, Some(5));
    script
        .send("* 2 EXPUNGE\r\n* VANISHED 3:5,9\r\n* VANISHED (EARLIER) 1:2\r\n{tag} OK\r\n")
        .await
        .unwrap();
    imap.check_alive().await.unwrap();
    // One EXPUNGE and four VANISHED; VANISHED (EARLIER) is history, not news.
    assert_eq!(imap.selected().unwrap().exists, Some(5));
    script.send("* 12 EXISTS\r\n{tag} OK\r\n").await.unwrap();
    imap.check_alive().await.unwrap();
    assert_eq!(imap.selected().unwrap().exists, Some(12));
}

#[tokio::test]
async fn the_view_follows_declared_mod_sequences_only() {
    let (mut imap, _task, script) = examined().await;
    assert_eq!(imap.selected().unwrap().uid_next, Some(11));
    assert_eq!(imap.selected().unwrap().highest_modseq, Some(40));
    // A FETCH's MODSEQ does not move the view: an expunge may still be unreported.
    script
        .send("* 3 FETCH (UID 3 MODSEQ (45) FLAGS (\\Seen))\r\n{tag} OK\r\n")
        .await
        .unwrap();
    imap.check_alive().await.unwrap();
    assert_eq!(imap.selected().unwrap().highest_modseq, Some(40));
    // A declared HIGHESTMODSEQ does, untagged or on the completion.
    script
        .send("* VANISHED 4\r\n{tag} OK [HIGHESTMODSEQ 47] done\r\n")
        .await
        .unwrap();
    imap.check_alive().await.unwrap();
    assert_eq!(imap.selected().unwrap().highest_modseq, Some(47));
    script
        .send("* OK [HIGHESTMODSEQ 52] later\r\n{tag} OK\r\n")
        .await
        .unwrap();
    imap.check_alive().await.unwrap();
    assert_eq!(imap.selected().unwrap().highest_modseq, Some(52));
    assert_eq!(imap.selected().unwrap().exists, Some(9));
}

#[tokio::test]
async fn an_untagged_no_forgets_the_selection() {
    let (mut imap, _task, script) = examined().await;
    script
        .send("* NO Mailbox was deleted\r\n{tag} OK\r\n")
        .await
        .unwrap();
    imap.check_alive().await.unwrap();
    assert!(imap.selected().is_none(), "the next use selects again");
}

/// Cyrus answers a command on a mailbox deleted under the session with a code-less
/// NO; the session selects the name again and retries. When the name now holds
/// another mailbox (a new UIDVALIDITY), the UID command must not run again: its
/// UIDs would name other messages.
#[tokio::test]
async fn a_retry_after_reselecting_checks_the_uid_validity() {
    let (mut imap, _task, script) = examined().await;
    script
        .send("{tag} NO Mailbox does not exist\r\n")
        .await
        .unwrap();
    script
        .send(
            "* 1 EXISTS\r\n* OK [UIDVALIDITY 6] new\r\n* OK [UIDNEXT 2] next\r\n\
             {tag} OK [READ-ONLY] done\r\n",
        )
        .await
        .unwrap();
    // What a retried STORE would get: it must not be asked for.
    script
        .send("* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\n{tag} OK\r\n")
        .await
        .unwrap();
    let uids = crate::imap::UidSet::single(crate::imap::Uid::try_from(1).unwrap());
    let stored = imap
        .store_flags(&uids, StoreMode::Add, &[crate::imap::Flag::Deleted], None)
        .await;
    assert!(
        matches!(
            stored,
            Err(ImapError::UidValidityChanged { was: 5, now: 6 })
        ),
        "{stored:?}"
    );
    // The same mailbox again (same UIDVALIDITY): the retry goes ahead.
    let (mut imap, _task, script) = examined().await;
    script
        .send("{tag} NO Mailbox does not exist\r\n")
        .await
        .unwrap();
    script
        .send("* 10 EXISTS\r\n* OK [UIDVALIDITY 5] same\r\n{tag} OK [READ-ONLY] done\r\n")
        .await
        .unwrap();
    script
        .send("* 1 FETCH (UID 1 FLAGS (\\Deleted))\r\n{tag} OK\r\n")
        .await
        .unwrap();
    let (updated, _) = imap
        .store_flags(&uids, StoreMode::Add, &[crate::imap::Flag::Deleted], None)
        .await
        .unwrap();
    assert_eq!(updated.len(), 1);
}
