//! The OpenAPI document: its frame (info, tags, security schemes, the components no
//! route names directly) and [`finish`], which states what utoipa cannot derive from
//! the Rust types. The routes add their own paths (`http/mod.rs`).
//!
//! Constraints a handler enforces (a limit's range, a UID's lower bound, a keyword's
//! characters) are written next to the fields and parameters they constrain, so a
//! code generator and a property-based tester (schemathesis, in `tests/contract.rs`)
//! know them; the tests below keep the stated bounds equal to the enforced ones.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ProblemDetails;

/// The `4XX`/`5XX` problem responses every operation documents.
#[derive(utoipa::IntoResponses)]
pub enum ProblemResponses {
    /// Client error (RFC 9457 problem details).
    #[response(status = "4XX", content_type = "application/problem+json")]
    Client(ProblemDetails),
    /// Server or IMAP backend error (RFC 9457 problem details).
    #[response(status = "5XX", content_type = "application/problem+json")]
    Server(ProblemDetails),
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A token from POST /v1/auth/token"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        // A browser's EventSource cannot send `Authorization`: `GET /v1/events` also
        // takes an event ticket in the URL, and it is how that caller authenticates.
        components.add_security_scheme(
            "ticket",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "ticket",
                "An event ticket from POST /v1/events/ticket (GET /v1/events only)",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "imap-gateway",
        description = "A JSON/HTTP API in front of any IMAP server: live, pooled, stateless. \
            Errors are RFC 9457 problem details (`application/problem+json`).",
        license(name = "MIT OR Apache-2.0")
    ),
    modifiers(&SecuritySchemes),
    components(schemas(
        ProblemDetails,
        crate::error::FieldError,
        crate::model::events::MessageCreatedEvent,
        crate::model::events::MessageUpdatedEvent,
        crate::model::events::MessageDeletedEvent,
        crate::model::events::MailboxEvent,
        crate::model::events::StreamEvent,
        crate::model::events::EventTicket,
        // Named by query parameters: utoipa refers to them without adding them.
        crate::model::message::HtmlMode,
        crate::model::message::FlagName,
        crate::model::message::ListSort,
        crate::model::message::ListOrder,
        crate::model::send::SentCopy
    )),
    tags(
        (name = "auth", description = "Tokens"),
        (name = "mailboxes", description = "Mailboxes (folders)"),
        (name = "messages", description = "Messages: list, search, read, download, append, move, copy, delete"),
        (name = "flags", description = "Message flags"),
        (name = "changes", description = "Live changes: a changes-since API and Server-Sent Events"),
        (name = "send", description = "Sending mail over SMTP submission"),
        (name = "service", description = "Health and readiness"),
    )
)]
pub(super) struct ApiDoc;

/// The largest UID, UIDVALIDITY or count the IMAP protocol has (an unsigned 32-bit
/// number).
const MAX_U32: u64 = u32::MAX as u64;

/// Completes the generated document. utoipa writes a `u32` as `format: int32,
/// minimum: 0`, and a UID above 2,147,483,647 is no int32: a generated client would
/// refuse or overflow on it. Every such schema becomes `format: int64` with the u32
/// maximum (unless a field states a smaller one).
pub fn finish(spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = serde_json::to_value(&spec).expect("BUG: the OpenAPI document serialises");
    widen_unsigned(&mut doc);
    parameters_are_never_null(&mut doc);
    describe_mailbox_paths(&mut doc);
    serde_json::from_value(doc).expect("BUG: the finished OpenAPI document deserialises")
}

/// A parameter is text or absent, never JSON `null`: utoipa types an optional
/// header declared as `Option<String>` `["string", "null"]`, and a client following
/// the document literally would send the text `null`. Parameters keep their plain
/// type; leaving them out is how a client says none.
fn parameters_are_never_null(doc: &mut serde_json::Value) {
    for schema in parameters_mut(doc).filter_map(|p| p.get_mut("schema")) {
        if let Some(types) = schema.get_mut("type").and_then(|t| t.as_array_mut()) {
            types.retain(|t| t != "null");
            if types.len() == 1 {
                let only = types.remove(0);
                schema["type"] = only;
            }
        }
    }
}

/// What a `{mailbox}` path segment may hold once percent-decoded: a mailbox name,
/// which has no control characters (`MailboxName` refuses them).
const MAILBOX_NAME_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]+$";

/// Every route names its mailbox the same way: the `{mailbox}` path parameter gets
/// its pattern and an example here, once, rather than in each of 22 annotations.
fn describe_mailbox_paths(doc: &mut serde_json::Value) {
    for parameter in parameters_mut(doc) {
        if parameter["in"] == "path" && parameter["name"] == "mailbox" {
            parameter["schema"]["pattern"] = MAILBOX_NAME_PATTERN.into();
            parameter["example"] = "INBOX".into();
        }
    }
}

/// Every parameter of every operation in the document.
fn parameters_mut(doc: &mut serde_json::Value) -> impl Iterator<Item = &mut serde_json::Value> {
    doc.get_mut("paths")
        .and_then(|p| p.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| operation.get_mut("parameters"))
        .filter_map(|parameters| parameters.as_array_mut())
        .flat_map(|parameters| parameters.iter_mut())
}

/// Rewrites every `u32` schema in `value` (see [`finish`]).
fn widen_unsigned(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let integer = match map.get("type") {
                Some(serde_json::Value::String(t)) => t == "integer",
                Some(serde_json::Value::Array(types)) => types.iter().any(|t| t == "integer"),
                _ => false,
            };
            let unsigned = map
                .get("minimum")
                .and_then(serde_json::Value::as_f64)
                .is_some_and(|min| min >= 0.0);
            if integer && unsigned && map.get("format").is_some_and(|f| f == "int32") {
                map.insert("format".to_owned(), "int64".into());
                map.entry("maximum").or_insert(MAX_U32.into());
            }
            map.values_mut().for_each(widen_unsigned);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(widen_unsigned),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn document() -> Value {
        serde_json::to_value(super::super::openapi()).unwrap()
    }

    fn parameter<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
    }

    #[test]
    fn no_unsigned_number_is_called_int32() {
        let doc = document();
        let text = doc.to_string();
        assert!(!text.contains(r#""format":"int32","minimum":0"#), "{text}");
        let uid =
            &parameter(&doc, "/v1/mailboxes/{mailbox}/messages/{uid}", "get", "uid")["schema"];
        assert_eq!(uid["format"], "int64");
        assert_eq!(uid["minimum"], 1);
        assert_eq!(uid["maximum"], u64::from(u32::MAX));
    }

    #[test]
    fn every_mailbox_path_parameter_states_what_a_name_may_hold() {
        let doc = document();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.contains("{mailbox}") {
                continue;
            }
            for method in item.as_object().unwrap().keys() {
                let mailbox = &parameter(&doc, path, method, "mailbox");
                assert_eq!(
                    mailbox["schema"]["pattern"],
                    super::MAILBOX_NAME_PATTERN,
                    "{path}"
                );
                assert_eq!(mailbox["example"], "INBOX", "{path}");
                seen += 1;
            }
        }
        assert_eq!(seen, 22);
    }

    #[test]
    fn every_page_size_states_the_range_its_handler_enforces() {
        let doc = document();
        for (path, max) in [
            (
                "/v1/mailboxes/{mailbox}/messages",
                crate::mail::list::MAX_LIMIT as u64,
            ),
            ("/v1/messages", crate::mail::list::MAX_LIMIT as u64),
            (
                "/v1/mailboxes/{mailbox}/threads",
                crate::mail::threads::MAX_LIMIT as u64,
            ),
            (
                "/v1/mailboxes/{mailbox}/changes",
                crate::mail::changes::MAX_CHANGES as u64,
            ),
        ] {
            let limit = &parameter(&doc, path, "get", "limit")["schema"];
            assert_eq!(limit["minimum"], 1, "{path}");
            assert_eq!(limit["maximum"], max, "{path}");
        }
    }

    #[test]
    fn stated_lengths_are_the_enforced_ones() {
        let doc = document();
        let key = &parameter(&doc, "/v1/send", "post", "Idempotency-Key")["schema"];
        assert_eq!(
            key["maxLength"],
            crate::mail::idempotency::MAX_KEY_BYTES as u64
        );
        let flag = &doc["components"]["schemas"]["FlagName"];
        let pattern = flag["pattern"].as_str().unwrap();
        assert!(
            pattern.contains(&format!("{{1,{}}}", crate::imap::flag::MAX_KEYWORD_LEN)),
            "{pattern}"
        );
    }

    /// The account-wide search takes a mailbox list's filters but not `uid` (UIDs
    /// belong to one mailbox): the document does not offer what is always refused.
    #[test]
    fn account_search_does_not_offer_uids() {
        let doc = document();
        let names: Vec<&str> = doc["paths"]["/v1/messages"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"from") && names.contains(&"mailboxes"),
            "{names:?}"
        );
        assert!(!names.contains(&"uid"), "{names:?}");
    }
}
