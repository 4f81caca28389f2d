//! The OpenAPI document as a contract, checked by tools nobody here wrote, at pinned
//! versions from PyPI (`dovecot_harness::python`):
//!
//! - openapi-spec-validator: the committed document is valid OpenAPI 3.1 and every
//!   `$ref` resolves (the check that failed while `HtmlMode` was undefined);
//! - schemathesis 4 over every operation, events included, against the gateway on a
//!   real Dovecot with the demo's mailbox and a submission service: generated valid
//!   and invalid input, every check it has (`--checks all`: no 5xx, every answer
//!   matching its documented status, content type, headers and schema, valid input
//!   accepted, invalid input refused, authentication enforced). The exceptions it is
//!   told to accept are in `tests/contract/schemathesis.toml`, each with its reason.

mod common;

use std::process::Output;
use std::time::Duration;

use common::Gateway;
use dovecot_harness::oauth::Introspection;
use dovecot_harness::sink::SmtpSink;
use dovecot_harness::{demo_users, python, Dovecot, OAuth2, Options};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const SPEC_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

fn manifest(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a tool to completion off the runtime's threads.
async fn run(mut command: std::process::Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the tool"))
        .await
        .unwrap()
}

fn report(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn the_document_is_valid_openapi_with_every_reference_resolved() {
    let mut validator = python::tool(SPEC_VALIDATOR, "openapi-spec-validator");
    validator.arg(manifest("openapi/openapi.json"));
    let output = run(validator).await;
    assert!(output.status.success(), "{}", report(&output));
    assert!(report(&output).contains("OK"), "{}", report(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_over_the_whole_document() {
    // The demo's server, with everything the API can use (a missing feature is a
    // documented 501): sending through a submission service, OAuth2 sign-in.
    let sink = SmtpSink::start();
    let introspection = Introspection::start();
    let dovecot = Dovecot::start(Options {
        users: demo_users(),
        submission_relay: Some(sink.port),
        oauth2: Some(OAuth2::both(&introspection)),
        ..Options::default()
    });
    let mut config = common::config_for(&dovecot);
    config.smtp_url = Some(dovecot.submission_plain_url().parse().unwrap());
    // schemathesis checks that invalid credentials get 401, many times over; the
    // failed-login throttle would rightly answer 429 after the fifth.
    config.login_failures_per_user = 100_000;
    config.login_failures_per_client = 100_000;
    // An event stream ends after this, so a tool that reads whole bodies can check it.
    config.sse_max_duration = Duration::from_secs(2);
    let gateway = Gateway::start(config).await;

    // `scripts/schemathesis.sh` asks for more.
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "25".to_owned());
    let mut schemathesis = python::tool(SCHEMATHESIS, "schemathesis");
    schemathesis
        .args([
            "--config-file",
            &manifest("tests/contract/schemathesis.toml"),
        ])
        .arg("run")
        .arg(format!("{}/openapi.json", gateway.base))
        // One worker: Python 3.11 before 3.11.9 (Debian's, and this machine's) can
        // fail `ast.parse` in concurrent threads ("AST constructor recursion depth
        // mismatch", CPython gh-106905), which hypothesis calls to describe filters.
        .args([
            "--checks",
            "all",
            "--max-examples",
            &examples,
            "--workers",
            "1",
        ])
        .args(["--seed", "20261208", "--request-timeout", "20"])
        .args(["--auth", "demo:demo-password", "--no-color"]);
    let output = run(schemathesis).await;
    let text = report(&output);
    println!("{text}");
    assert!(output.status.success(), "{text}");
    // It did call every operation.
    assert!(text.contains("Tested: 32"), "{text}");
}
