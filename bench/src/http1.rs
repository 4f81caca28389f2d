//! A minimal HTTP/1.1 client for the sequential-latency rows: one keep-alive
//! connection driven by hyper's connection API, the HTTP counterpart of the raw IMAP
//! client (one TCP connection, no pool, no redirect or cookie machinery), so the
//! ratio measures the gateway rather than a client library's per-request overhead.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One keep-alive HTTP/1.1 connection with Basic credentials.
pub struct Http1 {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    authorization: String,
}

impl Http1 {
    /// Connects to `addr` (`host:port`) with `user`'s Basic credentials.
    pub async fn connect(addr: &str, user: &str, password: &str) -> Self {
        let stream = TcpStream::connect(addr)
            .await
            .expect("connect to the gateway");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(connection);
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self {
            sender,
            host: addr.to_owned(),
            authorization: format!("Basic {credentials}"),
        }
    }

    /// GETs `path` and returns the whole body; panics unless the answer is 2xx.
    pub async fn get(&mut self, path: &str) -> Bytes {
        self.request(hyper::Method::GET, path, None).await
    }

    /// Sends `method` to `path` with an optional JSON body and returns the whole
    /// answer body; panics unless the answer is 2xx.
    pub async fn request(
        &mut self,
        method: hyper::Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Bytes {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::AUTHORIZATION, &self.authorization);
        let body = match json {
            Some(value) => {
                request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(value).expect("JSON body"))
            }
            None => Bytes::new(),
        };
        let request = request.body(Full::new(body)).expect("request");
        self.sender.ready().await.expect("connection ready");
        let response = self.sender.send_request(request).await.expect("response");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert!(status.is_success(), "{status} for {path}");
        body
    }
}
