//! The IMAP → HTTP status table and problem responses, pinned case by case.

use super::*;
use crate::imap::PoolFailure;

fn no(code: Option<RespCode>) -> ImapError {
    ImapError::No {
        code,
        text: "server text".into(),
    }
}

#[test]
fn imap_outcomes_map_to_statuses() {
    use RespCode as C;
    let cases: Vec<(Op, ImapError, u16)> = vec![
        (Op::GetMailbox, no(Some(C::NonExistent)), 404),
        (Op::CreateMailbox, no(Some(C::TryCreate)), 404),
        (Op::CreateMailbox, no(Some(C::AlreadyExists)), 409),
        (Op::DeleteMailbox, no(Some(C::HasChildren)), 409),
        (Op::DeleteMailbox, no(Some(C::NoPerm)), 403),
        (Op::Login, no(Some(C::AuthorizationFailed)), 403),
        (Op::Login, no(Some(C::AuthenticationFailed)), 401),
        (Op::Login, no(Some(C::Expired)), 401),
        (Op::CreateMailbox, no(Some(C::OverQuota)), 507),
        (Op::CreateMailbox, no(Some(C::Limit)), 422),
        (Op::CreateMailbox, no(Some(C::Cannot)), 422),
        (Op::ListMailboxes, no(Some(C::BadCharset)), 422),
        (Op::Select, no(Some(C::InUse)), 503),
        (Op::Select, no(Some(C::Unavailable)), 503),
        (Op::Select, no(Some(C::ServerBug)), 502),
        (Op::Select, no(Some(C::ContactAdmin)), 502),
        (Op::Select, no(Some(C::Corruption)), 502),
        (Op::Login, no(Some(C::PrivacyRequired)), 502),
        (Op::Select, no(Some(C::ClientBug)), 500),
        (Op::Select, no(None), 404),
        (Op::GetMailbox, no(None), 404),
        (Op::CreateMailbox, no(None), 409),
        (Op::RenameMailbox, no(None), 409),
        (Op::DeleteMailbox, no(None), 502),
        (Op::DeleteMailbox, no(Some(C::Other("X".into()))), 502),
        (Op::ListMailboxes, ImapError::Bad { text: "x".into() }, 500),
        (Op::ListMailboxes, ImapError::Bye { text: "x".into() }, 502),
        (Op::ListMailboxes, ImapError::ConnectionLost, 502),
        (Op::ListMailboxes, ImapError::Tls("x".into()), 502),
        (
            Op::ListMailboxes,
            ImapError::Io(std::io::Error::other("x")),
            502,
        ),
        (Op::ListMailboxes, ImapError::Timeout, 504),
        (Op::Copy, no(Some(C::ExpungeIssued)), 404),
        (Op::ListMailboxes, ImapError::Pool(PoolFailure::Busy), 503),
        (
            Op::ListMailboxes,
            ImapError::Pool(PoolFailure::GlobalLimit),
            503,
        ),
        (Op::Probe, ImapError::ConnectionLost, 503),
    ];
    for (op, err, want) in cases {
        let label = format!("{op:?} {err:?}");
        assert_eq!(ApiError::imap(op, err).status().as_u16(), want, "{label}");
    }
    let invalid = ImapError::Invalid(ValidationError::new("mailbox", "bad"));
    assert_eq!(
        ApiError::imap(Op::Select, invalid).status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn server_text_is_echoed_only_on_4xx() {
    let four = ApiError::imap(Op::CreateMailbox, no(Some(RespCode::AlreadyExists)));
    assert!(four.detail().contains("server text"));
    let five = ApiError::imap(Op::Select, no(Some(RespCode::ServerBug)));
    assert!(!five.detail().contains("server text"));
    let auth = ApiError::imap(Op::Login, no(Some(RespCode::AuthenticationFailed)));
    assert!(!auth.detail().contains("server text"));
}

#[test]
fn busy_answers_carry_retry_after() {
    let response = ApiError::imap(Op::Login, ImapError::Pool(PoolFailure::Busy)).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert!(response.extensions().get::<LoggedError>().is_some());
    let limited =
        ApiError::imap(Op::Login, ImapError::Pool(PoolFailure::ServerLimit)).into_response();
    assert_eq!(limited.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        limited.headers()[header::RETRY_AFTER],
        SERVER_LIMIT_BACKOFF.as_secs().to_string().as_str()
    );
}

#[test]
fn bad_input_follows_one_rule() {
    // Syntax (a value that is not a well-formed instance of its type) is 400;
    // semantics (a well-formed request that cannot be acted on) is 422.
    let malformed = ValidationError::new("uid", "a UID is a number from 1 to 4294967295");
    assert_eq!(
        ApiError::from(malformed.clone()).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ApiError::from(MailError::Invalid(malformed)).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ApiError::from(MailError::unacceptable(
            "limit",
            "must be between 1 and 500"
        ))
        .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let unrepresentable = ImapError::NotRepresentable(ValidationError::new("mailbox", "a dot"));
    assert_eq!(
        ApiError::imap(Op::CreateMailbox, unrepresentable).status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
