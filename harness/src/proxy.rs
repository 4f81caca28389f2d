//! A fault-injecting TCP proxy for tests: sits between the gateway and Dovecot and
//! can delay, stall, refuse or reset the server's side of every connection, while
//! counting the connections the server would see.
//!
//! Faults apply to the server-to-client direction (what the gateway reads), because
//! that is where real failures show: a server that stops answering, answers slowly,
//! or vanishes half-way through a response.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to traffic from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything untouched.
    None,
    /// Hold every chunk from the server for this long before forwarding it.
    Delay(Duration),
    /// Forward nothing from the server until the fault changes (the connections stay
    /// open, as with a server that hangs).
    Stall,
    /// Accept new connections and close them at once, before the greeting.
    Drop,
    /// Forward this many more bytes from the server on each connection, then reset it
    /// (TCP RST) in the middle of whatever response is under way.
    ResetAfter(u64),
    /// Replace every occurrence of the first byte string by the second in what the
    /// server sends (within each chunk read; enough for short tokens), to play a
    /// server that answers malformed responses.
    Rewrite(&'static [u8], &'static [u8]),
}

struct Shared {
    fault: watch::Sender<Fault>,
    /// Bumped by [`FaultProxy::reset_all`]; every connection resets when it changes.
    generation: watch::Sender<u64>,
    open: AtomicUsize,
    peak: AtomicUsize,
    accepted: AtomicU64,
}

/// A proxy listening on a free loopback port, forwarding to `127.0.0.1:upstream`.
/// Stops accepting when dropped (open connections are reset).
pub struct FaultProxy {
    /// The port to point the gateway at.
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy in front of `127.0.0.1:upstream_port`. Must be called inside a
    /// Tokio runtime.
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            fault: watch::channel(Fault::None).0,
            generation: watch::channel(0).0,
            open: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            accepted: AtomicU64::new(0),
        });
        let accept_shared = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                accept_shared.accepted.fetch_add(1, Ordering::SeqCst);
                if *accept_shared.fault.borrow() == Fault::Drop {
                    drop(client);
                    continue;
                }
                let shared = accept_shared.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await
                    else {
                        return;
                    };
                    let open = shared.open.fetch_add(1, Ordering::SeqCst) + 1;
                    shared.peak.fetch_max(open, Ordering::SeqCst);
                    relay(client, upstream, &shared).await;
                });
            }
        });
        Self { port, shared, task }
    }

    /// Changes the fault for all traffic from now on (open connections included).
    pub fn set(&self, fault: Fault) {
        self.shared.fault.send_replace(fault);
    }

    /// Resets (TCP RST) every open connection, as a crashed server or a middlebox would.
    pub fn reset_all(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Most connections open at the same time since start (or the last
    /// [`FaultProxy::clear_peak`]).
    pub fn peak(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Starts peak counting again from the current number of open connections.
    pub fn clear_peak(&self) {
        self.shared.peak.store(self.open(), Ordering::SeqCst);
    }

    /// Connections accepted since start, including dropped ones.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// `imap://127.0.0.1:port?tls=none` through the proxy.
    pub fn plain_url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.reset_all();
    }
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// Copies both ways until either side closes, applying the current fault to what the
/// server sends; resets both sockets when asked to.
async fn relay(mut client: TcpStream, mut upstream: TcpStream, shared: &Shared) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let mut generation = shared.generation.subscribe();
    let mut fault = shared.fault.subscribe();
    let mut up_buf = vec![0u8; 64 * 1024];
    let mut down_buf = vec![0u8; 64 * 1024];
    // Bytes still allowed through under `ResetAfter`, counted from when it was set.
    let mut budget: Option<u64> = None;
    let reset = 'relay: loop {
        let (mut client_read, mut client_write) = client.split();
        let (mut upstream_read, mut upstream_write) = upstream.split();
        tokio::select! {
            _ = generation.changed() => break 'relay true,
            read = client_read.read(&mut up_buf) => match read {
                Ok(0) | Err(_) => break 'relay false,
                Ok(n) => {
                    if upstream_write.write_all(&up_buf[..n]).await.is_err() {
                        break 'relay false;
                    }
                }
            },
            read = upstream_read.read(&mut down_buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break 'relay false,
                    Ok(n) => n,
                };
                let mut forward = n;
                let mut rewritten = None;
                loop {
                    let current = *fault.borrow_and_update();
                    match current {
                        Fault::None | Fault::Drop => {
                            budget = None;
                            break;
                        }
                        Fault::Rewrite(from, to) => {
                            budget = None;
                            rewritten = Some(replace_all(&down_buf[..n], from, to));
                            break;
                        }
                        Fault::Delay(delay) => {
                            budget = None;
                            tokio::select! {
                                _ = generation.changed() => break 'relay true,
                                () = tokio::time::sleep(delay) => break,
                            }
                        }
                        Fault::Stall => {
                            budget = None;
                            tokio::select! {
                                _ = generation.changed() => break 'relay true,
                                _ = fault.changed() => continue,
                            }
                        }
                        Fault::ResetAfter(limit) => {
                            let left = *budget.get_or_insert(limit);
                            let allowed = usize::try_from(left).unwrap_or(usize::MAX).min(n);
                            budget = Some(left - allowed as u64);
                            if allowed < n {
                                let _ = client_write.write_all(&down_buf[..allowed]).await;
                                break 'relay true;
                            }
                            forward = allowed;
                            break;
                        }
                    }
                }
                let bytes = rewritten.as_deref().unwrap_or(&down_buf[..forward]);
                if client_write.write_all(bytes).await.is_err() {
                    break 'relay false;
                }
            }
        }
    };
    if reset {
        // SO_LINGER 0 makes close() send RST instead of FIN: an abortive close.
        let _ = client.set_zero_linger();
        let _ = upstream.set_zero_linger();
    }
    // Counted closed before the sockets are (they drop after this line), so a client
    // that saw the close and connects again is never counted twice.
    shared.open.fetch_sub(1, Ordering::SeqCst);
}
