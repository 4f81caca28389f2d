//! A minimal Server-Sent Events client for the event-stream tests.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;

use super::Gateway;

/// One event from the stream.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
    pub id: Option<String>,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// A streaming `/v1/events` response.
pub struct SseClient {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseClient {
    /// Opens `/v1/events{query}` as `user` (name, password), resuming after
    /// `last_event_id` when given.
    pub async fn connect(
        gateway: &Gateway,
        user: (&str, &str),
        query: &str,
        last_event_id: Option<&str>,
    ) -> Self {
        let mut request = reqwest::Client::new()
            .get(format!("{}/v1/events{query}", gateway.base))
            .basic_auth(user.0, Some(user.1));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        Self::open(request).await
    }

    /// Opens the event stream `request` asks for (as a browser's EventSource would:
    /// any credentials are in the request).
    pub async fn open(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event called `name`, skipping others; None when none comes within
    /// `wait` of the one before.
    pub async fn next_named(&mut self, name: &str, wait: Duration) -> Option<SseEvent> {
        loop {
            let event = self.next(wait).await?;
            if event.event == name {
                return Some(event);
            }
        }
    }

    /// The next event (comments skipped), or None after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event.event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        event.data.push_str(v.trim_start());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        event.id = Some(v.trim().to_owned());
                    }
                }
                if event.event.is_empty() && event.data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(event);
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return None,
            }
        }
    }
}
