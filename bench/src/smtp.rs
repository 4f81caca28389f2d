//! The raw-SMTP floor for the send rows: one hand-written submission transaction
//! per message over a new connection (greeting, EHLO, AUTH PLAIN, MAIL, RCPT, DATA,
//! QUIT), as the gateway does for each send, without parsing more than reply codes.

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// Reads one (possibly multi-line) reply and returns its code.
async fn reply(stream: &mut BufReader<TcpStream>) -> u16 {
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.expect("SMTP reply");
        assert!(line.len() >= 4, "SMTP connection closed: {line:?}");
        if line.as_bytes()[3] != b'-' {
            return line[..3].parse().expect("reply code");
        }
    }
}

async fn command(stream: &mut BufReader<TcpStream>, line: &str, expected: u16) {
    stream
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("write SMTP command");
    let code = reply(stream).await;
    assert_eq!(code, expected, "{line}");
}

/// Submits `message` from `user` to `recipient` on `port` (plain, loopback).
pub async fn send_raw(port: u16, user: &str, password: &str, recipient: &str, message: &str) {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect to submission");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    let mut stream = BufReader::new(tcp);
    assert_eq!(reply(&mut stream).await, 220);
    command(&mut stream, "EHLO bench.test", 250).await;
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    command(&mut stream, &format!("AUTH PLAIN {credentials}"), 235).await;
    command(&mut stream, &format!("MAIL FROM:<{user}@example.org>"), 250).await;
    command(&mut stream, &format!("RCPT TO:<{recipient}>"), 250).await;
    command(&mut stream, "DATA", 354).await;
    command(&mut stream, &format!("{message}\r\n."), 250).await;
    command(&mut stream, "QUIT", 221).await;
}
