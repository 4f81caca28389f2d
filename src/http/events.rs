//! `GET /v1/events?mailboxes=INBOX,Sent`: Server-Sent Events of message changes.
//!
//! Each stream subscribes to the shared IDLE watcher of every mailbox it follows
//! (one IMAP session per user and mailbox, however many streams) and, whenever one
//! reports a change, asks the changes engine what changed since the stream's own
//! state. Event ids are the states of all followed mailboxes, so a client that
//! reconnects with `Last-Event-ID` first receives everything it missed, then live
//! events. Within a burst only the last event carries an id: a client cut off
//! mid-burst replays the burst rather than losing part of it.
//!
//! On servers without CONDSTORE/QRESYNC the watcher itself diffs the mailbox's flags
//! after each wake-up (`imap/watch.rs`) and the stream relays those batches. There a
//! resumed stream receives the messages created meanwhile; a deletion meanwhile is a
//! `mailbox.reset` (which messages went cannot be proven), and flag changes made
//! while the client was away are not replayed.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tracing::Instrument as _;

use super::authn::EventsCaller;
use super::extract::AppQuery;
use super::ProblemResponses;
use crate::auth::{AuthUser, Scope};
use crate::error::ApiError;
use crate::imap::{
    ImapError, MailboxChange, MailboxName, PoolFailure, Subscription, WatchLimit, WatchPosition,
};
use crate::mail::changes::{
    compute_changes, fresh_state, starting_states, summaries_in, ChangeSet, ChangesError,
};
use crate::mail::{MailboxState, Op};
use crate::model::events::{EventTicket, EventsQuery, ServerSentEvent};
use crate::model::events::{
    MessageCreatedEvent, MessageDeletedEvent, MessageUpdatedEvent, StreamEvent,
};
use crate::state::AppState;

/// Most mailboxes one stream may follow.
pub const MAX_STREAM_MAILBOXES: usize = 10;

/// The followed mailboxes. Split on the commas of the query as sent, before percent-
/// decoding, so a name that contains a comma can be followed as `%2C`
/// (`?mailboxes=INBOX,Clients%2C%20new`).
fn parse_mailboxes(raw_query: Option<&str>) -> Result<Vec<MailboxName>, ApiError> {
    let raw = raw_query
        .into_iter()
        .flat_map(|query| query.split('&'))
        .find_map(|pair| pair.strip_prefix("mailboxes="))
        .unwrap_or("INBOX");
    let mut names = Vec::new();
    for part in raw.split(',') {
        let plus_as_space = part.replace('+', " ");
        let decoded = percent_encoding::percent_decode_str(&plus_as_space)
            .decode_utf8()
            .map_err(|_| ApiError::bad_field("mailboxes", "names must be UTF-8"))?;
        let decoded = decoded.trim();
        if decoded.is_empty() {
            continue;
        }
        let name = MailboxName::try_from(decoded)
            .map_err(|e| crate::imap::ValidationError::new("mailboxes", e.message))?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() || names.len() > MAX_STREAM_MAILBOXES {
        return Err(ApiError::bad_field(
            "mailboxes",
            format!("give 1 to {MAX_STREAM_MAILBOXES} comma-separated mailbox names"),
        ));
    }
    Ok(names)
}

/// The stream position: one state per followed mailbox, and on servers without
/// CONDSTORE the watcher batch each mailbox's state includes.
struct Position {
    mailboxes: Vec<MailboxName>,
    states: Vec<MailboxState>,
    versions: Option<Vec<u64>>,
}

fn state_at(position: &WatchPosition) -> MailboxState {
    MailboxState {
        uid_validity: position.uid_validity,
        highest_modseq: 0,
        uid_next: position.uid_next,
        messages: position.messages,
    }
}

impl Position {
    fn id(&self, state: &AppState) -> String {
        self.mailboxes
            .iter()
            .zip(&self.states)
            .map(|(mailbox, s)| state.tokens_codec.encode_state(mailbox.wire(), s))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// An SSE event carrying `payload` under `name`.
fn named(name: &str, payload: &StreamEvent) -> Event {
    Event::default()
        .event(name)
        .json_data(payload)
        .unwrap_or_else(|_| Event::default().event(name))
}

/// An SSE event named after its payload.
fn event(payload: StreamEvent) -> Event {
    named(payload.name(), &payload)
}

/// `stream.ready` or `mailbox.reset`.
fn mailbox_event((name, payload): (&str, StreamEvent)) -> Event {
    named(name, &payload)
}

/// Server-Sent Events of message changes in the given mailboxes.
///
/// Events: `stream.ready` (first, with an id to resume from), `message.created`
/// (with the summary), `message.updated` (flags, modseq), `message.deleted` (uid),
/// `mailbox.reset` (UIDVALIDITY changed). Reconnect with `Last-Event-ID` to receive
/// everything missed, exactly once. Keep-alive comments every 25 s (configurable);
/// a stream ends after `IMAP_GATEWAY_SSE_MAX_DURATION` (24 h), to be resumed the same way.
/// On servers without CONDSTORE/QRESYNC the changes come from the watcher's own flag
/// diffs (`message.updated` then has no `modseq`). 429 when the user follows too many
/// mailboxes, 503 when the gateway's watcher limit is reached. From a browser, pass
/// an event ticket as `?ticket=` (`POST /v1/events/ticket`).
#[utoipa::path(get, path = "/v1/events", tag = "changes",
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "The last event id received, to resume")),
    security(("bearer" = []), ("basic" = []), ("ticket" = [])),
    responses(
        (status = 200, description = "An event stream: each event's `data` is one StreamEvent (`message.created`: MessageCreatedEvent, `message.updated`: MessageUpdatedEvent, `message.deleted`: MessageDeletedEvent, `mailbox.reset` and `stream.ready`: MailboxEvent)",
            // The schema of a `text/event-stream` body describes one event (its
            // `event`, `data` and `id` fields), as SSE-aware validators
            // (schemathesis 4) read it; each `data` is one StreamEvent (in components).
            content_type = "text/event-stream", body = ServerSentEvent),
        ProblemResponses))]
pub async fn stream_events(
    State(state): State<AppState>,
    EventsCaller(user): EventsCaller,
    // Validates the query (an unknown or repeated parameter answers 400); the
    // mailbox names are read from the raw query (`parse_mailboxes`).
    AppQuery(_query): AppQuery<EventsQuery>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    user.require(Scope::Read)?;
    let mailboxes = parse_mailboxes(uri.query())?;
    // A header that is not visible ASCII cannot be one of our ids: refuse it rather
    // than silently starting afresh (the client would miss events unknowingly).
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::bad_field("Last-Event-ID", "is not an event id from this gateway")
        })?),
    };
    let resumed: Option<Vec<MailboxState>> = match last_event_id {
        // An empty id is how EventSource says "no id": start from now.
        Some(id) if !id.trim().is_empty() => {
            let parts: Vec<&str> = id.split(',').collect();
            if parts.len() != mailboxes.len() {
                return Err(ApiError::bad_field(
                    "Last-Event-ID",
                    "does not match the followed mailboxes",
                ));
            }
            Some(
                mailboxes
                    .iter()
                    .zip(parts)
                    .map(|(mailbox, part)| {
                        state
                            .tokens_codec
                            .decode_state("Last-Event-ID", mailbox.wire(), part)
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
        _ => None,
    };
    // Subscribe first, then read the starting point: the watcher's first tick (when
    // its IDLE is in place) covers any change in between.
    let mut subscriptions = Vec::new();
    for mailbox in &mailboxes {
        let subscription = state
            .watchers
            .subscribe(&user.identity, mailbox)
            .map_err(|limit| match limit {
                WatchLimit::PerIdentity => ApiError::TooManyRequests {
                    detail: "this user already follows as many mailboxes as allowed".to_owned(),
                    retry_after: Duration::from_secs(5),
                },
                WatchLimit::Global => {
                    ApiError::imap(Op::Select, ImapError::Pool(PoolFailure::GlobalLimit))
                }
            })?;
        subscriptions.push(subscription);
    }
    let (states, versions) = {
        let mut session = state.session(&user).await?;
        match starting_states(&mut session, &mailboxes).await? {
            Some(states) => (states, None),
            None => {
                // The watchers' first snapshots are the starting points.
                drop(session);
                let mut states = Vec::new();
                let mut versions = Vec::new();
                for subscription in &subscriptions {
                    let position = subscription
                        .snapshot_position(state.config.imap_command_timeout)
                        .await
                        .ok_or_else(|| ApiError::imap(Op::Select, ImapError::Timeout))?;
                    states.push(state_at(&position));
                    versions.push(position.version);
                }
                (states, Some(versions))
            }
        }
    };
    let position = Position {
        mailboxes,
        states: resumed.clone().unwrap_or(states),
        versions,
    };
    let (sender, receiver) = mpsc::channel::<Event>(64);
    let span = tracing::info_span!("event stream", user = %user.identity.username());
    tokio::spawn(
        run_stream(
            state.clone(),
            user,
            position,
            subscriptions,
            resumed.is_some(),
            sender,
        )
        .instrument(span),
    );
    // The stream ends at its maximum life; dropping the receiver then ends its task.
    let ends = tokio::time::sleep(state.config.sse_max_duration);
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
    .take_until(ends);
    Ok(Sse::new(stream).keep_alive(
        KeepAlive::new()
            .interval(state.config.sse_keepalive)
            .text("keep-alive"),
    ))
}

/// Why a stream could not compute its mailbox's changes this time.
enum Missed {
    /// The state cannot be continued from: the client starts over (`mailbox.reset`).
    Resync,
    /// Anything else, as a request would answer it; tried again at the next change.
    Failed(ApiError),
}

impl From<ChangesError> for Missed {
    fn from(err: ChangesError) -> Self {
        match err {
            ChangesError::Resync(_) => Self::Resync,
            ChangesError::Failed(err) => Self::Failed(err.into()),
        }
    }
}

impl From<ApiError> for Missed {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

/// Issue an event ticket, for following `GET /v1/events?ticket=…` from a browser's
/// EventSource (which cannot send an `Authorization` header). The ticket is good
/// only for the event stream, read only, and expires with the credentials it was
/// issued for (a token's expiry; the token lifetime for Basic), so EventSource's
/// automatic reconnects keep working exactly as long as the sign-in does. The
/// credential is proven before a ticket is issued (401 otherwise). It travels
/// in a URL: the gateway never logs URLs, but keep it out of anything else that might.
#[utoipa::path(post, path = "/v1/events/ticket", tag = "changes",
    security(("bearer" = []), ("basic" = [])),
    responses((status = 200, description = "A ticket", body = EventTicket), ProblemResponses))]
pub async fn create_ticket(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    user.require(Scope::Read)?;
    // A ticket seals the credential it was issued for: prove it first (Basic
    // credentials are otherwise unchecked until the stream opens), as any request
    // would, so the gateway never signs a credential the server refuses.
    drop(state.session(&user).await?);
    let issued = state
        .tokens
        .issue_ticket(&user.identity, user.expires_at, state.config.token_ttl);
    Ok((
        [(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        )],
        axum::Json(EventTicket {
            ticket: issued.access_token,
            expires_in: issued.expires_in,
        }),
    ))
}

/// Computes what changed in mailbox `index` since the stream's state, outside any
/// lock on the client: the pooled session is released before events are sent.
async fn changes_for(
    state: &AppState,
    user: &AuthUser,
    position: &Position,
    index: usize,
) -> Result<ChangeSet, Missed> {
    let mailbox = &position.mailboxes[index];
    let mut session = state.session(user).await?;
    Ok(compute_changes(&mut session, mailbox, position.states[index], 100).await?)
}

/// Sends everything that changed in mailbox `index`; returns false when the client left.
async fn flush(
    state: &AppState,
    user: &AuthUser,
    position: &mut Position,
    index: usize,
    sender: &mpsc::Sender<Event>,
) -> bool {
    let name = position.mailboxes[index].as_str().to_owned();
    loop {
        let mut events = Vec::new();
        let has_more = match changes_for(state, user, position, index).await {
            Ok(changes) => {
                for message in changes.created {
                    events.push(event(StreamEvent::Created(Box::new(MessageCreatedEvent {
                        mailbox: name.clone(),
                        message,
                    }))));
                }
                for update in changes.updated {
                    events.push(event(StreamEvent::Updated(MessageUpdatedEvent {
                        mailbox: name.clone(),
                        uid: update.uid,
                        flags: update.flags,
                        modseq: Some(update.modseq),
                    })));
                }
                for uid in changes.destroyed {
                    events.push(event(StreamEvent::Deleted(MessageDeletedEvent {
                        mailbox: name.clone(),
                        uid,
                    })));
                }
                position.states[index] = changes.state;
                changes.has_more
            }
            Err(Missed::Resync) => {
                // The state cannot be continued: the client starts over from the new one.
                let current = async {
                    let mut session = state.session(user).await?;
                    fresh_state(&mut session, &position.mailboxes[index])
                        .await
                        .map_err(ApiError::from)
                }
                .await;
                match current {
                    Ok(Some(current)) => {
                        position.states[index] = current;
                        events.push(mailbox_event(StreamEvent::reset(&name)));
                    }
                    _ => return !sender.is_closed(),
                }
                false
            }
            Err(Missed::Failed(err)) => {
                tracing::warn!(
                    status = err.status().as_u16(),
                    "computing changes for an event stream failed"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
                return !sender.is_closed();
            }
        };
        if !send_burst(events, &position.id(state), sender).await {
            return false;
        }
        if !has_more {
            return true;
        }
    }
}

/// Sends a burst of events; only the last carries the stream position `id`, so a
/// client cut off mid-burst replays the burst rather than lose part of it. Returns
/// false when the client left.
async fn send_burst(events: Vec<Event>, id: &str, sender: &mpsc::Sender<Event>) -> bool {
    let count = events.len();
    for (i, mut event) in events.into_iter().enumerate() {
        if i + 1 == count {
            event = event.id(id);
        }
        if sender.send(event).await.is_err() {
            return false;
        }
    }
    true
}

/// Sleeps for `left`; forever when `None`.
async fn until(left: Option<Duration>) {
    match left {
        None => std::future::pending().await,
        Some(left) => tokio::time::sleep(left).await,
    }
}

async fn run_stream(
    state: AppState,
    user: AuthUser,
    mut position: Position,
    mut subscriptions: Vec<Subscription>,
    resumed: bool,
    sender: mpsc::Sender<Event>,
) {
    let names = position
        .mailboxes
        .iter()
        .map(MailboxName::as_str)
        .collect::<Vec<_>>()
        .join(",");
    let ready = mailbox_event(StreamEvent::ready(names)).id(position.id(&state));
    if sender.send(ready).await.is_err() {
        return;
    }
    if resumed {
        for index in 0..position.mailboxes.len() {
            if !flush(&state, &user, &mut position, index, &sender).await {
                return;
            }
        }
    }
    let mut shutting_down = state.shutting_down.subscribe();
    // A stream signed in with an OAuth2 access token ends when the token does: its
    // watcher session must not outlive it.
    let credential_expiry = until(user.identity.time_left());
    tokio::pin!(credential_expiry);
    // The stream's credential is re-proven like a pool's: a checkout every recheck
    // interval logs in afresh when the pool's proof is older, and a refusal (a
    // changed password) ends the stream.
    let mut recheck = tokio::time::interval(state.config.credential_recheck);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    recheck.tick().await;
    loop {
        if *shutting_down.borrow() {
            return;
        }
        let notice =
            futures::future::select_all(subscriptions.iter_mut().map(|s| Box::pin(s.changed())));
        let index = tokio::select! {
            (result, index, _) = notice => {
                if result.is_err() {
                    return;
                }
                index
            }
            () = sender.closed() => return,
            _ = shutting_down.changed() => return,
            () = &mut credential_expiry => return,
            _ = recheck.tick() => {
                match state.session(&user).await {
                    Err(err) if err.status() == axum::http::StatusCode::UNAUTHORIZED => {
                        tracing::info!("event stream ended: its credential was refused");
                        return;
                    }
                    _ => continue,
                }
            }
        };
        subscriptions[index].mark_seen();
        let delivered = if position.versions.is_some() {
            relay(
                &state,
                &user,
                &mut position,
                index,
                &mut subscriptions[index],
                &sender,
            )
            .await
        } else {
            flush(&state, &user, &mut position, index, &sender).await
        };
        if !delivered {
            return;
        }
    }
}

/// Diffing watchers (servers without CONDSTORE): sends the batches of mailbox `index`
/// that this stream has not seen; returns false when the client left.
async fn relay(
    state: &AppState,
    user: &AuthUser,
    position: &mut Position,
    index: usize,
    subscription: &mut Subscription,
    sender: &mpsc::Sender<Event>,
) -> bool {
    use tokio::sync::broadcast::error::TryRecvError;
    let name = position.mailboxes[index].as_str().to_owned();
    loop {
        let seen = position.versions.as_ref().map_or(0, |v| v[index]);
        let batch = match subscription.next_batch() {
            Ok(batch) if batch.position.version <= seen => continue,
            Ok(batch) => batch,
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Closed) => return false,
            Err(TryRecvError::Lagged(_)) => {
                // Too far behind to replay: the client starts over from now.
                let Some(now) = subscription
                    .snapshot_position(state.config.imap_command_timeout)
                    .await
                else {
                    return !sender.is_closed();
                };
                position.states[index] = state_at(&now);
                if let Some(versions) = position.versions.as_mut() {
                    versions[index] = now.version;
                }
                let reset = mailbox_event(StreamEvent::reset(&name)).id(position.id(state));
                if sender.send(reset).await.is_err() {
                    return false;
                }
                continue;
            }
        };
        let known_below = position.states[index].uid_next;
        let created: Vec<u32> = batch
            .changes
            .iter()
            .filter_map(|change| match change {
                MailboxChange::Created(uid) if *uid >= known_below => Some(*uid),
                _ => None,
            })
            .collect();
        let summaries = if created.is_empty() {
            Vec::new()
        } else {
            let fetched = async {
                let mut session = state.session(user).await?;
                let mailbox = &position.mailboxes[index];
                summaries_in(&mut session, mailbox, &created, batch.position.uid_validity)
                    .await
                    .map_err(ApiError::from)
            }
            .await;
            match fetched {
                Ok(summaries) => summaries,
                Err(err) => {
                    // The batch is gone from the watcher's channel and its events
                    // cannot be sent without their summaries: end the stream at the
                    // last position delivered, so the client's resume (Last-Event-ID)
                    // replays them, rather than move past them.
                    tracing::warn!(
                        status = err.status().as_u16(),
                        "reading new messages for an event stream failed; ending the stream"
                    );
                    return false;
                }
            }
        };
        let mut events = Vec::new();
        for change in &batch.changes {
            match change {
                MailboxChange::Created(uid) => {
                    if let Some(summary) = summaries.iter().find(|m| m.uid == *uid) {
                        events.push(event(StreamEvent::Created(Box::new(MessageCreatedEvent {
                            mailbox: name.clone(),
                            message: summary.clone(),
                        }))));
                    }
                }
                MailboxChange::FlagsChanged { uid, flags } => {
                    events.push(event(StreamEvent::Updated(MessageUpdatedEvent {
                        mailbox: name.clone(),
                        uid: *uid,
                        flags: crate::model::message::normalize_flags(flags.iter()),
                        modseq: None,
                    })));
                }
                MailboxChange::Deleted(uid) => {
                    events.push(event(StreamEvent::Deleted(MessageDeletedEvent {
                        mailbox: name.clone(),
                        uid: *uid,
                    })));
                }
                MailboxChange::Reset => {
                    events.push(mailbox_event(StreamEvent::reset(&name)));
                }
            }
        }
        let mut next = state_at(&batch.position);
        next.uid_next = next.uid_next.max(known_below);
        position.states[index] = next;
        if let Some(versions) = position.versions.as_mut() {
            versions[index] = batch.position.version;
        }
        if !send_burst(events, &position.id(state), sender).await {
            return false;
        }
    }
}
