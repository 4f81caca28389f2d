//! Starts each server the cross-server suite uses and lists alice's mailboxes.
use dovecot_harness::raw::RawImap;
use dovecot_harness::servers::{AnyServer, Kind};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for kind in Kind::ALL {
        let started = std::time::Instant::now();
        let server = AnyServer::start(kind, &[("alice", "secret"), ("bob", "secret")]);
        let mut raw = RawImap::login(server.port(), "alice", "secret").await;
        let lines = raw.ok("LIST \"\" \"*\"").await;
        let uid = raw
            .append_message(
                &server.wire_name("Archive"),
                "\\Seen",
                b"Subject: x\r\n\r\nhi\r\n",
            )
            .await;
        println!(
            "{}: {:?} in {:?}, appended uid {uid}",
            kind.name(),
            lines,
            started.elapsed()
        );
    }
}
