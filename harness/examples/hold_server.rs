//! Starts one server (`dovecot`, `cyrus` or `courier`) with alice/secret and
//! bob/secret, prints its port, and keeps it running until standard input reaches its
//! end (press Ctrl-D, or close the pipe): then it stops the server and removes its
//! files. For probing a server by hand. (Killing the process instead would leave the
//! server running.)
use dovecot_harness::servers::{AnyServer, Kind};

fn main() {
    let kind = match std::env::args().nth(1).as_deref() {
        Some("cyrus") => Kind::Cyrus,
        Some("courier") => Kind::Courier,
        _ => Kind::Dovecot,
    };
    let server = AnyServer::start(kind, &[("alice", "secret"), ("bob", "secret")]);
    println!("{} port {}", kind.name(), server.port());
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    drop(server);
}
