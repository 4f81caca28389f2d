//! Bad input everywhere: an injection corpus applied to every path, query, header and
//! body parameter of every route (the list is checked against the OpenAPI document,
//! so a new parameter cannot be forgotten). Every answer must be a 4xx problem+json
//! (or, for read-only and free-text parameters, a 2xx), never a 5xx, and the
//! server's state, read with a separate raw IMAP connection, must not change.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{enc, Dovecot, Gateway, Options, SeedMessage, User};
use dovecot_harness::oauth::Introspection;
use dovecot_harness::raw::RawImap;
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::OAuth2;
use reqwest::Method;
use serde_json::{json, Value};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy)]
enum Loc {
    Path(&'static str),
    Query(&'static str),
    Header(&'static str),
    /// A JSON pointer into the body (`/to`, `/filter/from`, `/add/0`).
    Body(&'static str),
    /// The whole raw body of a `message/rfc822` upload.
    RawBody,
    /// Nothing replaced: the baseline request itself.
    Baseline,
}

/// What a parameter may do with a corpus value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Must be refused with a 4xx.
    Reject,
    /// A read-only route: 2xx or 4xx, never 5xx.
    ReadOnly,
    /// A new mailbox name: may be created literally (checked, then removed).
    NewName,
    /// A rename target: may be renamed to literally (checked, then renamed back).
    RenameTo,
    /// Free text of a composed or uploaded message (into `Sandbox`): may be stored,
    /// but must never inject a header.
    MessageText,
    /// A value that may be valid as given (a flag keyword such as `0` or `../x` is a
    /// legal IMAP atom; a large modseq in If-Match is a legal precondition). Routes
    /// with such slots act on `Sandbox`, outside the checked state; a stored flag must
    /// come back verbatim.
    Literal,
}

struct Route {
    method: Method,
    template: &'static str,
    path: &'static [(&'static str, &'static str)],
    body: Option<Value>,
    raw_body: bool,
    slots: Vec<(Loc, Expect)>,
}

fn route(method: Method, template: &'static str) -> Route {
    Route {
        method,
        template,
        path: &[],
        body: None,
        raw_body: false,
        slots: Vec::new(),
    }
}

impl Route {
    fn path(mut self, path: &'static [(&'static str, &'static str)]) -> Self {
        self.path = path;
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    fn raw(mut self) -> Self {
        self.raw_body = true;
        self
    }
    fn slot(mut self, loc: Loc, expect: Expect) -> Self {
        self.slots.push((loc, expect));
        self
    }
}

const INBOX_1: &[(&str, &str)] = &[("mailbox", "INBOX"), ("uid", "1")];
const RAW_MESSAGE: &str =
    "From: a@example.org\r\nTo: b@example.org\r\nSubject: raw\r\n\r\nbody\r\n";

/// A route taking the compose JSON (storing or sending): its baseline body, with
/// `flag`, and a slot for every field.
fn composed(route: Route, flag: &str) -> Route {
    use Expect::{MessageText, Reject};
    use Loc::Body;
    route
        .body(json!({
            "from": "alice@example.org",
            "to": ["x@example.org"],
            "cc": [{"name": "C", "address": "c@example.org"}],
            "bcc": ["b@example.org"],
            "subject": "s",
            "text": "t",
            "html": "<p>t</p>",
            "flags": [flag],
            "attachments": [{"filename": "a.txt", "content_type": "text/plain", "content_base64": "aGk="}],
            "reply_to": ["r@example.org"],
            "headers": [{"name": "X-Ticket", "value": "T-1"}],
        }))
        .slot(Body("/from"), Reject)
        .slot(Body("/to"), Reject)
        .slot(Body("/to/0"), Reject)
        .slot(Body("/cc/0/address"), Reject)
        .slot(Body("/cc/0/name"), MessageText)
        .slot(Body("/bcc/0"), Reject)
        .slot(Body("/subject"), MessageText)
        .slot(Body("/text"), MessageText)
        .slot(Body("/html"), MessageText)
        .slot(Body("/flags"), Reject)
        .slot(Body("/flags/0"), MessageText)
        .slot(Body("/internal_date"), Reject)
        .slot(Body("/attachments"), Reject)
        .slot(Body("/attachments/0/filename"), MessageText)
        .slot(Body("/attachments/0/content_type"), MessageText)
        .slot(Body("/attachments/0/content_base64"), MessageText)
        .slot(Body("/reference"), Reject)
        .slot(Body("/reply_to"), Reject)
        .slot(Body("/reply_to/0"), Reject)
        .slot(Body("/headers"), Reject)
        .slot(Body("/headers/0/name"), Reject)
        .slot(Body("/headers/0/value"), MessageText)
}

/// Every route with a parameter, each parameter with what it may do.
fn routes() -> Vec<Route> {
    use Expect::{Literal, MessageText, NewName, ReadOnly, Reject, RenameTo};
    use Loc::{Body, Header, Path, Query, RawBody};
    let move_body = json!({"uids": [1], "to": "Archive"});
    vec![
        route(Method::POST, "/v1/auth/token")
            .body(json!({"username": "alice", "password": "alice-pw"}))
            .slot(Body("/username"), ReadOnly)
            .slot(Body("/password"), ReadOnly)
            .slot(Body("/scope"), Reject)
            .slot(Body("/ttl_seconds"), Reject),
        route(Method::POST, "/v1/auth/token")
            .body(
                json!({"username": "alice", "access_token": SWEEP_ACCESS_TOKEN, "expires_in": 600}),
            )
            .slot(Body("/access_token"), ReadOnly)
            // Any positive number is valid (the TTL caps it); null means absent.
            .slot(Body("/expires_in"), ReadOnly),
        route(Method::GET, "/v1/events")
            .slot(Query("mailboxes"), Reject)
            .slot(Query("ticket"), Reject)
            .slot(Header("Last-Event-ID"), Reject),
        route(Method::GET, "/v1/mailboxes")
            .slot(Query("status"), Reject)
            .slot(Query("subscribed"), Reject),
        route(Method::POST, "/v1/mailboxes")
            .body(json!({"name": "Fresh", "subscribe": false}))
            .slot(Body("/name"), NewName)
            .slot(Body("/subscribe"), Reject),
        route(Method::GET, "/v1/mailboxes/{mailbox}")
            .path(&[("mailbox", "INBOX")])
            .slot(Path("mailbox"), ReadOnly),
        route(Method::DELETE, "/v1/mailboxes/{mailbox}")
            .path(&[("mailbox", "Scratch")])
            .slot(Path("mailbox"), Reject),
        route(Method::PATCH, "/v1/mailboxes/{mailbox}")
            .path(&[("mailbox", "Scratch")])
            .body(json!({"name": "Scratch", "subscribed": false}))
            .slot(Path("mailbox"), Reject)
            .slot(Body("/name"), RenameTo)
            .slot(Body("/subscribed"), Reject),
        route(Method::GET, "/v1/mailboxes/{mailbox}/changes")
            .path(&[("mailbox", "INBOX")])
            .slot(Path("mailbox"), ReadOnly)
            .slot(Query("since"), ReadOnly)
            .slot(Query("limit"), ReadOnly),
        route(Method::POST, "/v1/mailboxes/{mailbox}/copy")
            .path(&[("mailbox", "INBOX")])
            .slot(Query("uid_validity"), Reject)
            .body(move_body.clone())
            .slot(Path("mailbox"), Reject)
            .slot(Body("/to"), Reject)
            .slot(Body("/uids"), Reject)
            .slot(Body("/uids/0"), Reject)
            .slot(Body("/filter"), Reject),
        route(Method::POST, "/v1/mailboxes/{mailbox}/move")
            .path(&[("mailbox", "INBOX")])
            .slot(Query("uid_validity"), Reject)
            .body(move_body)
            .slot(Path("mailbox"), Reject)
            .slot(Body("/to"), Reject)
            .slot(Body("/uids"), Reject)
            .slot(Body("/uids/0"), Reject)
            .slot(Body("/filter"), Reject),
        route(Method::POST, "/v1/mailboxes/{mailbox}/delete")
            .path(&[("mailbox", "INBOX")])
            .slot(Query("uid_validity"), Reject)
            .body(json!({"uids": [3], "permanent": false, "filter": null}))
            .slot(Path("mailbox"), Reject)
            .slot(Body("/uids"), Reject)
            .slot(Body("/uids/0"), Reject)
            .slot(Body("/permanent"), Reject)
            .slot(Body("/filter"), Reject),
        route(Method::POST, "/v1/mailboxes/{mailbox}/flags")
            .path(&[("mailbox", "Sandbox")])
            .slot(Query("uid_validity"), Reject)
            .body(json!({"uids": [2], "add": ["$Probe"], "remove": ["$Gone"], "filter": null}))
            .slot(Path("mailbox"), Reject)
            .slot(Body("/uids"), Reject)
            .slot(Body("/add"), Reject)
            .slot(Body("/add/0"), Literal)
            .slot(Body("/remove"), Reject)
            .slot(Body("/remove/0"), Literal)
            .slot(Body("/filter"), Reject),
        // A filter instead of UIDs: every filter field is validated like a query.
        route(Method::POST, "/v1/mailboxes/{mailbox}/flags")
            .path(&[("mailbox", "Sandbox")])
            .body(json!({"add": ["$Probe"], "filter": {"subject": "no such subject"}}))
            .slot(Body("/filter/keyword"), Literal)
            .slot(Body("/filter/since"), Reject)
            .slot(Body("/filter/larger"), Reject)
            .slot(Body("/filter/uid"), Reject),
        route(Method::GET, "/v1/mailboxes/{mailbox}/messages")
            .path(&[("mailbox", "INBOX")])
            .slot(Path("mailbox"), ReadOnly)
            .slot(Query("limit"), ReadOnly)
            .slot(Query("cursor"), ReadOnly)
            .slot(Query("unseen"), ReadOnly)
            .slot(Query("seen"), ReadOnly)
            .slot(Query("flagged"), ReadOnly)
            .slot(Query("answered"), ReadOnly)
            .slot(Query("draft"), ReadOnly)
            .slot(Query("deleted"), ReadOnly)
            .slot(Query("keyword"), ReadOnly)
            .slot(Query("from"), ReadOnly)
            .slot(Query("to"), ReadOnly)
            .slot(Query("cc"), ReadOnly)
            .slot(Query("subject"), ReadOnly)
            .slot(Query("text"), ReadOnly)
            .slot(Query("body"), ReadOnly)
            .slot(Query("since"), ReadOnly)
            .slot(Query("before"), ReadOnly)
            .slot(Query("larger"), ReadOnly)
            .slot(Query("smaller"), ReadOnly)
            .slot(Query("uid"), ReadOnly)
            .slot(Query("sort"), ReadOnly)
            .slot(Query("order"), ReadOnly),
        route(Method::GET, "/v1/mailboxes/{mailbox}/threads")
            .path(&[("mailbox", "INBOX")])
            .slot(Path("mailbox"), ReadOnly)
            .slot(Query("limit"), ReadOnly)
            .slot(Query("cursor"), ReadOnly),
        route(Method::GET, "/v1/mailboxes/{mailbox}/threads/{id}")
            .path(&[("mailbox", "INBOX"), ("id", "1")])
            .slot(Path("mailbox"), ReadOnly)
            .slot(Path("id"), ReadOnly)
            .slot(Query("include_sent"), Reject),
        route(Method::GET, "/v1/messages")
            .slot(Query("limit"), ReadOnly)
            .slot(Query("cursor"), ReadOnly)
            .slot(Query("unseen"), ReadOnly)
            .slot(Query("seen"), ReadOnly)
            .slot(Query("flagged"), ReadOnly)
            .slot(Query("answered"), ReadOnly)
            .slot(Query("draft"), ReadOnly)
            .slot(Query("deleted"), ReadOnly)
            .slot(Query("keyword"), ReadOnly)
            .slot(Query("from"), ReadOnly)
            .slot(Query("to"), ReadOnly)
            .slot(Query("cc"), ReadOnly)
            .slot(Query("subject"), ReadOnly)
            .slot(Query("text"), ReadOnly)
            .slot(Query("body"), ReadOnly)
            .slot(Query("since"), ReadOnly)
            .slot(Query("before"), ReadOnly)
            .slot(Query("larger"), ReadOnly)
            .slot(Query("smaller"), ReadOnly)
            .slot(Query("uid"), Reject)
            .slot(Query("sort"), ReadOnly)
            .slot(Query("order"), ReadOnly)
            .slot(Query("mailboxes"), ReadOnly)
            .slot(Query("exclude_roles"), Reject),
        composed(
            route(Method::POST, "/v1/mailboxes/{mailbox}/messages")
                .path(&[("mailbox", "Sandbox")])
                .slot(Path("mailbox"), Reject),
            "\\Seen",
        ),
        route(Method::POST, "/v1/mailboxes/{mailbox}/messages")
            .path(&[("mailbox", "Sandbox")])
            .raw()
            .slot(Query("flags"), MessageText)
            .slot(Query("internal_date"), Reject)
            .slot(RawBody, MessageText),
        composed(
            route(Method::POST, "/v1/send")
                .slot(Query("sent_copy"), Reject)
                // Any visible-ASCII key is valid (it is only hashed); with the sweep's
                // sent_copy=never every request is refused, which must be a 4xx.
                .slot(Header("Idempotency-Key"), ReadOnly),
            "$Sent",
        ),
        route(Method::POST, "/v1/send")
            .raw()
            .slot(Query("to"), Reject)
            .slot(Query("from"), Reject)
            .slot(RawBody, MessageText),
        route(Method::POST, "/v1/mailboxes/{mailbox}/messages/{uid}/send")
            .path(&[("mailbox", "Sandbox"), ("uid", "1")])
            .slot(Query("uid_validity"), Reject)
            .slot(Path("mailbox"), Reject)
            .slot(Path("uid"), Reject)
            .slot(Query("sent_copy"), Reject),
        route(Method::GET, "/v1/mailboxes/{mailbox}/messages/{uid}")
            .path(INBOX_1)
            .slot(Path("mailbox"), ReadOnly)
            .slot(Path("uid"), ReadOnly)
            .slot(Query("mark_seen"), Reject)
            .slot(Query("html"), Reject)
            .slot(Query("remote_images"), Reject),
        route(Method::DELETE, "/v1/mailboxes/{mailbox}/messages/{uid}")
            .path(&[("mailbox", "INBOX"), ("uid", "3")])
            .slot(Query("uid_validity"), Reject)
            .slot(Path("mailbox"), Reject)
            .slot(Path("uid"), Reject)
            .slot(Query("permanent"), Reject),
        route(
            Method::GET,
            "/v1/mailboxes/{mailbox}/messages/{uid}/attachments/{part}",
        )
        .path(&[("mailbox", "INBOX"), ("uid", "1"), ("part", "1")])
        .slot(Path("mailbox"), ReadOnly)
        .slot(Path("uid"), ReadOnly)
        .slot(Path("part"), ReadOnly),
        route(Method::POST, "/v1/mailboxes/{mailbox}/messages/{uid}/copy")
            .path(INBOX_1)
            .slot(Query("uid_validity"), Reject)
            .body(json!({"to": "Archive"}))
            .slot(Path("mailbox"), Reject)
            .slot(Path("uid"), Reject)
            .slot(Body("/to"), Reject),
        route(Method::POST, "/v1/mailboxes/{mailbox}/messages/{uid}/move")
            .path(INBOX_1)
            .slot(Query("uid_validity"), Reject)
            .body(json!({"to": "Archive"}))
            .slot(Path("mailbox"), Reject)
            .slot(Path("uid"), Reject)
            .slot(Body("/to"), Reject),
        route(Method::GET, "/v1/mailboxes/{mailbox}/messages/{uid}/flags")
            .path(INBOX_1)
            .slot(Path("mailbox"), ReadOnly)
            .slot(Path("uid"), ReadOnly),
        route(Method::PUT, "/v1/mailboxes/{mailbox}/messages/{uid}/flags")
            .path(&[("mailbox", "Sandbox"), ("uid", "2")])
            .slot(Query("uid_validity"), Reject)
            .body(json!({"flags": ["\\Seen", "$Probe"]}))
            .slot(Path("mailbox"), Reject)
            .slot(Path("uid"), Reject)
            .slot(Header("If-Match"), Literal)
            .slot(Body("/flags"), Reject)
            .slot(Body("/flags/0"), Literal),
        route(
            Method::PATCH,
            "/v1/mailboxes/{mailbox}/messages/{uid}/flags",
        )
        .path(&[("mailbox", "Sandbox"), ("uid", "2")])
        .slot(Query("uid_validity"), Reject)
        .body(json!({"add": ["$Probe"], "remove": ["$Gone"]}))
        .slot(Path("mailbox"), Reject)
        .slot(Path("uid"), Reject)
        .slot(Header("If-Match"), Literal)
        .slot(Body("/add"), Reject)
        .slot(Body("/add/0"), Literal)
        .slot(Body("/remove"), Reject)
        .slot(Body("/remove/0"), Literal),
        route(Method::GET, "/v1/mailboxes/{mailbox}/messages/{uid}/raw")
            .path(INBOX_1)
            .slot(Path("mailbox"), ReadOnly)
            .slot(Path("uid"), ReadOnly),
    ]
}

/// Hostile strings: line breaks and NUL that could end an IMAP command, quotes and
/// backslashes that could end a quoted string, literal syntax, wildcards, huge and
/// negative numbers, empty values, emoji, a very long value.
fn corpus() -> Vec<String> {
    let mut values: Vec<String> = [
        "",
        " ",
        "a\rb",
        "a\nb",
        "x\r\nA1 DELETE INBOX",
        "x\r\nX-Injected: yes",
        "a\0b",
        "\"",
        "x\" DELETE \"INBOX",
        "\\",
        "x\\",
        "{5}\r\nhello",
        "{5}",
        "{5+}",
        "*",
        "%",
        "INBOX*",
        "../INBOX",
        "-1",
        "0",
        "99999999999999999999999",
        "4294967296",
        "1.5",
        "null",
        "\u{1F600}",
        "\u{202E}evil",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    values.push("A".repeat(20_000));
    values
}

/// Percent-encoded forms that are not valid UTF-8 (or smuggle a NUL) once decoded,
/// for paths and queries.
const RAW_ENCODED: [&str; 4] = ["%FF%FE", "%C3%28", "%00", "%E2%82"];

/// Typed JSON values for body fields: wrong types, huge and negative numbers.
fn typed_values() -> Vec<Value> {
    vec![
        json!(-1),
        json!(4_294_967_296_u64),
        json!(1.5),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
        json!([[1]]),
        serde_json::from_str("1e400").unwrap_or(json!(f64::MAX)),
    ]
}

/// True when `typed` is a legitimate value of the baseline's kind rather than a type
/// confusion: `null` for an optional (absent or null) field, `true`/`false` for a
/// boolean, `[]` for a list. Numbers are kept: their range is what is tested.
fn same_kind(baseline: Option<&Value>, typed: &Value) -> bool {
    match (baseline, typed) {
        (None | Some(Value::Null), Value::Null) => true,
        (Some(Value::Bool(_)), Value::Bool(_)) => true,
        (Some(Value::Array(_)), Value::Array(items)) => items.is_empty(),
        _ => false,
    }
}

/// Everything observable about alice's account, read over a separate connection.
async fn snapshot(raw: &mut RawImap) -> BTreeMap<String, String> {
    let mut state = BTreeMap::new();
    let (lines, _) = raw.run("LIST \"\" \"*\"").await;
    let mut names = Vec::new();
    for line in lines {
        // `* LIST (\HasNoChildren) "/" Name` — the name is everything after the
        // delimiter, still in IMAP syntax (quoted or atom), usable as is.
        let rest = line.trim_end().split_once(") ").map_or("", |(_, r)| r);
        let name = rest.split_once(' ').map_or("", |(_, n)| n).to_owned();
        if name.trim_matches('"') != "Sandbox" {
            // \Marked and \UnMarked only say whether there is new mail since
            // some session last looked; every other attribute must stay.
            let attributes = line.replace(" \\UnMarked", "").replace(" \\Marked", "");
            state.insert(format!("list {name}"), attributes);
            names.push(name);
        }
    }
    for name in &names {
        let (status, _) = raw
            .run(&format!(
                "STATUS {name} (MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ UNSEEN)"
            ))
            .await;
        state.insert(format!("status {name}"), status.join(" "));
    }
    let (subscribed, _) = raw.run("LSUB \"\" \"*\"").await;
    state.insert("subscriptions".to_owned(), subscribed.join("\n"));
    state
}

/// Waits (briefly) until LIST stops showing `name`: Dovecot's mailbox-list index,
/// shared with the gateway's own session that created the mailbox, can show a
/// just-deleted name for a moment.
async fn wait_until_unlisted(raw: &mut RawImap, name: &str) {
    let pattern = quoted(name);
    for _ in 0..50 {
        let (lines, _) = raw.run(&format!("LIST \"\" {pattern}")).await;
        if lines.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Quotes a UTF-8 mailbox name for a raw IMAP command.
fn quoted(name: &str) -> String {
    let wire = imap_gateway::imap::utf7::encode(name);
    format!("\"{}\"", wire.replace('\\', "\\\\").replace('"', "\\\""))
}

fn set_pointer(body: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut *body
    } else {
        body.pointer_mut(parent)
            .unwrap_or_else(|| panic!("{pointer}: no {parent} in the baseline body"))
    };
    match target {
        Value::Object(map) => {
            map.insert(key.to_owned(), value);
        }
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
        other => panic!("{pointer}: cannot set inside {other}"),
    }
}

/// A hostile value: text (percent-encoded in paths and queries, a JSON string in
/// bodies), a raw percent-encoded sequence, or a JSON value of any type.
enum Input {
    Text(String),
    Encoded(&'static str),
    Json(Value),
}

struct Outcome {
    status: u16,
    content_type: String,
    body: String,
}

/// Sends the route's baseline request with `loc` replaced by `value`; `None` when
/// the value cannot be put there (a JSON value in a path, CR/LF in a header).
async fn send(
    client: &reqwest::Client,
    base: &str,
    route: &Route,
    loc: Loc,
    value: &Input,
) -> Option<Outcome> {
    let mut path = route.template.to_owned();
    for (name, baseline) in route.path {
        let segment = match (loc, value) {
            (Loc::Path(p), Input::Text(text)) if p == *name => enc(text),
            (Loc::Path(p), Input::Encoded(raw)) if p == *name => (*raw).to_owned(),
            (Loc::Path(p), Input::Json(_)) if p == *name => return None,
            _ => enc(baseline),
        };
        path = path.replace(&format!("{{{name}}}"), &segment);
    }
    let mut query: Vec<String> = Vec::new();
    let mut headers = Vec::new();
    let mut body = route.body.clone();
    let mut raw_body = route.raw_body.then(|| RAW_MESSAGE.as_bytes().to_vec());
    match (loc, value) {
        (Loc::Path(_) | Loc::Baseline, _) => {}
        (Loc::Query(name), Input::Text(text)) => query.push(format!("{name}={}", enc(text))),
        (Loc::Query(name), Input::Encoded(raw)) => query.push(format!("{name}={raw}")),
        (Loc::Header(name), Input::Text(text)) => {
            // CR, LF and NUL cannot be sent in a header at all (the HTTP stack
            // refuses them before the gateway sees anything).
            reqwest::header::HeaderValue::from_str(text).ok()?;
            // An empty header means "none given" (EventSource sends an empty
            // Last-Event-ID to mean exactly that).
            if text.trim().is_empty() {
                return None;
            }
            headers.push((name, text.clone()));
        }
        (Loc::Body(pointer), Input::Text(text)) => {
            set_pointer(body.as_mut()?, pointer, Value::String(text.clone()));
        }
        (Loc::Body(pointer), Input::Json(json)) => {
            set_pointer(body.as_mut()?, pointer, json.clone());
        }
        (Loc::RawBody, Input::Text(text)) => raw_body = Some(text.as_bytes().to_vec()),
        _ => return None,
    }
    if route.template == "/v1/send" && !matches!(loc, Loc::Query("sent_copy")) {
        // What is sent is checked at the relay; no Sent copy, so the mailboxes stay
        // as they were.
        query.push("sent_copy=never".to_owned());
    }
    if route.template == "/v1/send" && route.raw_body && !matches!(loc, Loc::Query("to")) {
        // Raw uploads name their recipients in ?to=: a valid one, so only the hostile
        // value can be wrong.
        query.push("to=b%40example.org".to_owned());
    }
    if route.template.ends_with("/changes") && !matches!(loc, Loc::Query("since")) {
        // A valid starting point, so only the hostile value can be wrong.
        let mailbox: Value = client
            .get(format!("{base}/v1/mailboxes/INBOX"))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        query.push(format!(
            "since={}",
            enc(mailbox["status"]["state"].as_str().unwrap())
        ));
    }
    let url = if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{}", query.join("&"))
    };
    let mut request = client
        .request(route.method.clone(), url)
        .basic_auth("alice", Some("alice-pw"))
        .timeout(Duration::from_secs(20));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if let Some(bytes) = raw_body {
        request = request.header("content-type", "message/rfc822").body(bytes);
    } else if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("every request is answered");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    // An accepted event stream never ends by itself: read a little, then stop.
    let body = if content_type.starts_with("text/event-stream") {
        String::new()
    } else {
        response.text().await.unwrap_or_default()
    };
    Some(Outcome {
        status,
        content_type,
        body,
    })
}

fn describe(loc: Loc, value: &Input) -> String {
    let shown = match value {
        Input::Text(t) if t.len() > 40 => format!("{:?}… ({} bytes)", &t[..40], t.len()),
        Input::Text(t) => format!("{t:?}"),
        Input::Encoded(raw) => format!("raw {raw}"),
        Input::Json(json) => format!("json {json}"),
    };
    format!("{loc:?} = {shown}")
}

/// alice with INBOX (3 messages, the first seen), an empty Archive, Scratch (to
/// rename and delete) and Sandbox (2 messages; where free text and flags may land).
/// The OAuth2 access token alice's Dovecot accepts (see [`alice_dovecot`]).
const SWEEP_ACCESS_TOKEN: &str = "ya29.sweep-access-token";

/// alice's Dovecot, also accepting [`SWEEP_ACCESS_TOKEN`] through `introspection`.
fn alice_dovecot(submission_relay: Option<u16>, introspection: &Introspection) -> Dovecot {
    introspection.register(SWEEP_ACCESS_TOKEN, "alice", Duration::from_secs(3600));
    let inbox = vec![
        SeedMessage::text("carol@example.org", "alice@example.org", "Hello", "one").with_flags("S"),
        SeedMessage::text("dave@example.org", "alice@example.org", "Invoice", "two"),
        SeedMessage::text("erin@example.org", "alice@example.org", "Lunch?", "three"),
    ];
    Dovecot::start(Options {
        users: vec![User::new("alice", "alice-pw")
            .with_mailbox("INBOX", inbox)
            .with_mailbox("Archive", Vec::new())
            .with_mailbox("Scratch", Vec::new())
            .with_mailbox(
                "Sandbox",
                vec![
                    SeedMessage::text("s@example.org", "alice@example.org", "S1", "1"),
                    SeedMessage::text("s@example.org", "alice@example.org", "S2", "2"),
                ],
            )],
        rawlog: false,
        submission_relay,
        oauth2: Some(OAuth2::both(introspection)),
        ..Options::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_parameter_of_every_route_refuses_hostile_input_and_changes_nothing() {
    // Sending goes through Dovecot's submission service to a sink: a hostile value
    // that is accepted is sent, and must arrive as data, never as a header.
    let sink = SmtpSink::start();
    let introspection = Introspection::start();
    let dovecot = alice_dovecot(Some(sink.port), &introspection);
    let mut config = common::config_for(&dovecot);
    config.smtp_url = Some(dovecot.submission_plain_url().parse().unwrap());
    // Usernames, passwords and access tokens from the corpus are failed logins; they
    // must not throttle the rest of the run.
    config.login_failures_per_user = 100_000;
    config.login_failures_per_client = 100_000;
    let gateway = Gateway::start(config).await;
    let client = reqwest::Client::new();
    let mut raw = RawImap::login(dovecot.imap_port, "alice", "alice-pw").await;
    let mut before = snapshot(&mut raw).await;

    let routes = routes();
    check_coverage(&routes);
    let corpus = corpus();
    let mut tried = 0usize;
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut stored_texts = 0usize;
    let mut composed_uids = Vec::new();
    for route in &routes {
        for &(loc, expect) in &route.slots {
            let mut values: Vec<Input> = corpus.iter().cloned().map(Input::Text).collect();
            match loc {
                Loc::Path(_) | Loc::Query(_) => {
                    values.extend(RAW_ENCODED.iter().map(|r| Input::Encoded(r)));
                }
                Loc::Body(pointer) => {
                    let baseline = route.body.as_ref().and_then(|b| b.pointer(pointer));
                    values.extend(
                        typed_values()
                            .into_iter()
                            .filter(|typed| !same_kind(baseline, typed))
                            .map(Input::Json),
                    );
                }
                _ => {}
            }
            for value in &values {
                let Some(outcome) = send(&client, &gateway.base, route, loc, value).await else {
                    continue;
                };
                tried += 1;
                *statuses.entry(outcome.status).or_insert(0) += 1;
                let label = format!(
                    "{} {} {}: {}",
                    route.method,
                    route.template,
                    describe(loc, value),
                    outcome.status
                );
                let client_error = (400..500).contains(&outcome.status);
                let success = (200..300).contains(&outcome.status);
                if client_error && outcome.content_type != "application/problem+json" {
                    failures.push(format!(
                        "{label}: 4xx without problem+json: {}",
                        outcome.body
                    ));
                }
                let allowed = match expect {
                    Expect::Reject => client_error,
                    _ => client_error || success,
                };
                if !allowed {
                    failures.push(format!("{label}: {}", outcome.body));
                    continue;
                }
                if !success {
                    continue;
                }
                // Accepted literally: check it was literal, then put things back.
                match (expect, value) {
                    (Expect::NewName, Input::Text(name)) => {
                        let created: Value = serde_json::from_str(&outcome.body).unwrap();
                        if created["name"] != name.as_str() {
                            failures.push(format!("{label}: created {}", created["name"]));
                        }
                        raw.ok(&format!("DELETE {}", quoted(name))).await;
                        raw.run(&format!("UNSUBSCRIBE {}", quoted(name))).await;
                        wait_until_unlisted(&mut raw, name).await;
                    }
                    (Expect::RenameTo, Input::Text(name)) => {
                        raw.ok(&format!("RENAME {} Scratch", quoted(name))).await;
                        raw.run(&format!("UNSUBSCRIBE {}", quoted(name))).await;
                        // Scratch was never subscribed; the rename must not have
                        // subscribed anything (checked by the snapshot).
                        wait_until_unlisted(&mut raw, name).await;
                    }
                    (Expect::Literal, Input::Text(text))
                        if matches!(loc, Loc::Body(p) if p.contains("flags/") || p.starts_with("/add/"))
                            && route.method != Method::POST =>
                    {
                        let flags: Value = serde_json::from_str(&outcome.body).unwrap();
                        if !flags["flags"]
                            .as_array()
                            .is_some_and(|f| f.iter().any(|x| x == text.as_str()))
                        {
                            failures.push(format!("{label}: flag not stored verbatim: {flags}"));
                        }
                    }
                    (Expect::MessageText, _) => {
                        if route.template != "/v1/send" {
                            stored_texts += 1;
                        }
                        // Composed messages must hold the text as data; a raw upload
                        // is the client's own message, headers and all.
                        if route.template == "/v1/send" {
                            // Sent: what the relay received must hold the text as data.
                            let sent = sink.received().pop().expect("a sent message");
                            let text = sent.text();
                            let header = text.split("\r\n\r\n").next().unwrap_or_default();
                            if !matches!(loc, Loc::RawBody) && header.contains("X-Injected") {
                                failures.push(format!("{label}: header injected: {header}"));
                            }
                        } else if !matches!(loc, Loc::RawBody) {
                            let appended: Value = serde_json::from_str(&outcome.body).unwrap();
                            composed_uids.push(appended["uid"].as_u64().unwrap());
                        }
                    }
                    _ => {}
                }
            }
            let now = snapshot(&mut raw).await;
            if now != before {
                let changed: Vec<_> = now
                    .iter()
                    .filter(|(k, v)| before.get(*k) != Some(v))
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect();
                failures.push(format!(
                    "{} {} {loc:?} changed the server's state: {changed:?}",
                    route.method, route.template
                ));
                before = now;
            }
        }
    }
    // Nothing hostile became an SMTP command.
    let commands = sink.commands();
    assert!(
        commands
            .iter()
            .all(|c| !c.contains("DELETE") && !c.contains("X-Injected")),
        "{commands:?}"
    );
    // Messages accepted into Sandbox hold the hostile text as data, never as headers.
    raw.ok("SELECT Sandbox").await;
    let injected: Vec<u32> = raw
        .search("HEADER X-Injected \"\"")
        .await
        .into_iter()
        .filter(|uid| composed_uids.contains(&u64::from(*uid)))
        .collect();
    assert!(
        injected.is_empty(),
        "a header was injected into composed messages {injected:?}"
    );
    assert!(!composed_uids.is_empty(), "some free text was stored");
    println!(
        "{tried} hostile requests over {} routes: {statuses:?}; {stored_texts} free-text values stored literally",
        routes.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let stored = dovecot.message_count("alice", "Sandbox");
    assert_eq!(
        stored,
        2 + stored_texts,
        "every accepted upload is stored once"
    );

    // The baselines were valid requests (so each refusal above came from the one
    // hostile value): each succeeds on a fresh server.
    for route in &routes {
        let sink = SmtpSink::start();
        let introspection = Introspection::start();
        let dovecot = alice_dovecot(Some(sink.port), &introspection);
        let mut config = common::config_for(&dovecot);
        config.smtp_url = Some(dovecot.submission_plain_url().parse().unwrap());
        let gateway = Gateway::start(config).await;
        let outcome = send(
            &client,
            &gateway.base,
            route,
            Loc::Baseline,
            &Input::Encoded(""),
        )
        .await
        .unwrap();
        assert!(
            (200..300).contains(&outcome.status),
            "baseline {} {} failed: {} {}",
            route.method,
            route.template,
            outcome.status,
            outcome.body
        );
    }
}

/// Every parameter in the OpenAPI document is exercised by some slot.
fn check_coverage(routes: &[Route]) {
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string("openapi/openapi.json").unwrap()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, operations) in spec["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                documented.insert(format!(
                    "{} {path} {}",
                    method.to_uppercase(),
                    parameter["name"].as_str().unwrap()
                ));
            }
            let schema_ref = operation
                .pointer("/requestBody/content/application~1json/schema/$ref")
                .and_then(Value::as_str);
            if let Some(reference) = schema_ref {
                let name = reference.rsplit('/').next().unwrap();
                for property in spec["components"]["schemas"][name]["properties"]
                    .as_object()
                    .unwrap()
                    .keys()
                {
                    documented.insert(format!("{} {path} {property}", method.to_uppercase()));
                }
            }
        }
    }
    let mut covered = BTreeSet::new();
    for route in routes {
        for (loc, _) in &route.slots {
            let name = match loc {
                Loc::Path(n) | Loc::Query(n) | Loc::Header(n) => (*n).to_owned(),
                Loc::Body(pointer) => pointer.split('/').nth(1).unwrap().to_owned(),
                Loc::RawBody | Loc::Baseline => continue,
            };
            covered.insert(format!("{} {} {name}", route.method, route.template));
        }
    }
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "parameters without hostile input: {missing:?}"
    );
}

#[tokio::test]
async fn malformed_bodies_oversized_bodies_and_headers_are_refused() {
    let dovecot = common::dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/mailboxes", gateway.base);
    let post = |body: Vec<u8>, content_type: &'static str| {
        client
            .post(&url)
            .basic_auth("alice", Some("alice-pw"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(&str, Vec<u8>, &str, u16)> = vec![
        (
            "invalid UTF-8 in JSON",
            b"{\"name\": \"a\xff\xfe\"}".to_vec(),
            "application/json",
            400,
        ),
        (
            "truncated JSON",
            b"{\"name\": ".to_vec(),
            "application/json",
            400,
        ),
        ("not JSON", b"name=x".to_vec(), "application/json", 400),
        (
            "wrong content type",
            b"{\"name\": \"x\"}".to_vec(),
            "text/plain",
            415,
        ),
        (
            "unknown field",
            b"{\"name\": \"x\", \"evil\": 1}".to_vec(),
            "application/json",
            422,
        ),
        ("empty body", Vec::new(), "application/json", 400),
        (
            "2 MiB of JSON",
            format!("{{\"name\": \"{}\"}}", "a".repeat(2 << 20)).into_bytes(),
            "application/json",
            413,
        ),
        (
            // Valid JSON, but an array where an object belongs.
            "deeply nested JSON",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            "application/json",
            422,
        ),
    ];
    for (label, body, content_type, want) in cases {
        let response = post(body, content_type).await.unwrap();
        let status = response.status().as_u16();
        let problem = response.headers()["content-type"] == "application/problem+json";
        // The rule (README, Errors): a body that is not JSON is 400; JSON that parses
        // but does not fit the request (unknown field, wrong type) is 422.
        assert_eq!(status, want, "{label}");
        assert!(problem, "{label}: not problem+json");
    }
    // A raw upload over the append limit.
    let huge = vec![b'a'; 65 << 20];
    let response = client
        .post(format!("{}/v1/mailboxes/INBOX/messages", gateway.base))
        .basic_auth("alice", Some("alice-pw"))
        .header("content-type", "message/rfc822")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // Headers far beyond any real client's: 431.
    let response = client
        .get(format!("{}/v1/mailboxes", gateway.base))
        .basic_auth("alice", Some("alice-pw"))
        .header("x-padding", "p".repeat(1 << 20))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 431),
        Err(err) => panic!("the server must answer 431, not drop the connection: {err}"),
    }
    assert_eq!(dovecot.message_count("alice", "INBOX"), 3);
    assert!(!dovecot.mailbox_exists("alice", "x"));
}
