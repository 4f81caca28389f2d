//! Starts one server (dovecot|cyrus|courier) with alice/secret and keeps it running
//! until killed, printing its port: for probing a server by hand.
use dovecot_harness::servers::{AnyServer, Kind};

fn main() {
    let kind = match std::env::args().nth(1).as_deref() {
        Some("cyrus") => Kind::Cyrus,
        Some("courier") => Kind::Courier,
        _ => Kind::Dovecot,
    };
    let server = AnyServer::start(kind, &[("alice", "secret"), ("bob", "secret")]);
    println!("{} port {}", kind.name(), server.port());
    std::thread::sleep(std::time::Duration::from_secs(
        std::env::args()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(600),
    ));
}
