//! A minimal raw IMAP client for the baseline: hand-written commands over one
//! persistent plain connection, literals skipped, nothing parsed beyond what the
//! measurement needs.

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;

/// One logged-in connection.
pub struct RawImap {
    stream: BufReader<TcpStream>,
    tag: u32,
}

impl RawImap {
    /// Connects to loopback `port` and logs in.
    pub async fn login(port: u16, user: &str, password: &str) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut raw = Self {
            stream: BufReader::new(stream),
            tag: 0,
        };
        let mut greeting = String::new();
        raw.stream.read_line(&mut greeting).await.unwrap();
        raw.command(&format!("LOGIN {user} {password}")).await;
        raw
    }

    /// Sends a command and reads to its tagged OK; returns the untagged lines
    /// (literal contents skipped).
    pub async fn command(&mut self, command: &str) -> Vec<String> {
        self.tag += 1;
        let tag = format!("r{}", self.tag);
        self.stream
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut lines = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line.starts_with(&tag) {
                assert!(line[tag.len()..].starts_with(" OK"), "{command}: {line}");
                return lines;
            }
            if let Some(size) = line
                .trim_end()
                .strip_suffix('}')
                .and_then(|l| l.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut skip = vec![0u8; size];
                self.stream.read_exact(&mut skip).await.unwrap();
            }
            lines.push(line.trim_end().to_owned());
        }
    }

    /// `UID SEARCH`; returns the lines and the UIDs.
    pub async fn search(&mut self, criteria: &str) -> (Vec<String>, Vec<u32>) {
        let lines = self.command(&format!("UID SEARCH {criteria}")).await;
        let mut uids: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|rest| rest.split_whitespace().filter_map(|n| n.parse().ok()))
            .collect();
        uids.sort_unstable();
        (lines, uids)
    }
}
