//! An in-memory IMAP server end for unit tests: a logged-in async-imap session over
//! `tokio::io::duplex`, and helpers to read the client's commands and script replies.

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};

use super::ImapStream;

/// The server's end of the stream.
pub type Server = BufReader<DuplexStream>;

/// A logged-in async-imap session over an in-memory stream, and the server's end.
pub async fn session() -> (async_imap::Session<ImapStream>, Server) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let mut server = BufReader::new(server);
    server.get_mut().write_all(b"* OK ready\r\n").await.unwrap();
    let mut client = async_imap::Client::new(Box::new(client) as ImapStream);
    client.read_response().await.unwrap();
    let login = tokio::spawn(async move { client.login("u", "p").await.map_err(|(e, _)| e) });
    let tag = next_tag(&mut server).await;
    reply(&mut server, &format!("{tag} OK logged in\r\n")).await;
    (login.await.unwrap().unwrap(), server)
}

/// Reads one command line from the client; returns its tag.
pub async fn next_tag(server: &mut Server) -> String {
    let mut line = String::new();
    server.read_line(&mut line).await.unwrap();
    line.split(' ').next().unwrap().to_owned()
}

/// Sends `bytes` to the client.
pub async fn reply(server: &mut Server, bytes: &str) {
    server.get_mut().write_all(bytes.as_bytes()).await.unwrap();
}
