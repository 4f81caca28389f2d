//! The IMAP side of the gateway: validated types, command rendering, connections,
//! sessions with typed operations, and the per-identity session pools.
//!
//! Nothing here knows about HTTP; `crate::http` never touches `async_imap` directly.

pub mod backoff;
pub mod code;
/// Command rendering, the one place user text becomes IMAP. Private: the rest of the
/// crate speaks to the server through [`ImapSession`]'s typed operations. Public only
/// to the fuzz targets (`cargo fuzz` sets `cfg(fuzzing)`).
#[cfg(fuzzing)]
pub mod command;
#[cfg(not(fuzzing))]
mod command;
pub mod completion;
pub mod connect;
pub mod date;
pub mod error;
pub mod esearch;
pub mod exchange;
pub mod fetched;
pub mod flag;
pub mod guard;
pub mod identity;
pub mod listing;
pub mod mailbox_locks;
pub mod mime;
pub mod namespace;
pub mod pool;
pub mod profile;
pub mod search;
pub mod session;
pub mod status;
#[cfg(test)]
pub(crate) mod test_server;
pub mod thread;
pub mod types;
pub mod uid;
pub mod utf7;
pub mod watch;

pub use code::RespCode;
pub use command::{search_criteria, FetchItem, Section, SortKey, StoreMode, ThreadAlgorithm};
pub use connect::{Backend, BackendUrl, Security, Timeouts};
pub use error::{ImapError, PoolFailure};
pub use flag::Flag;
pub use identity::{AccountKey, Credential, Identity, IdentityKey};
pub use pool::{PoolSettings, PoolStats, PooledSession, SessionPools};
pub use profile::{ServerKind, ServerProfile};
pub use session::{ImapSession, MailboxCounters, MailboxInfo, SpecialUse};
pub use types::{MailboxName, PartNumber, ServerMailbox, Username, ValidationError};
pub use uid::{Uid, UidSet};
pub use watch::{ChangeBatch, MailboxChange, Subscription, WatchLimit, WatchPosition, Watchers};

/// Anything an IMAP connection can run over: TCP, or TLS on top of TCP.
pub trait Transport:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug
{
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + std::fmt::Debug> Transport
    for T
{
}

/// The boxed stream every session uses, so plain and TLS sessions share one type.
pub type ImapStream = Box<dyn Transport>;
