//! The committed `openapi/openapi.json` must equal what the code generates, and the
//! running gateway must serve it and the Swagger UI (offline, from the binary).
//!
//! After changing an endpoint, regenerate with:
//! `UPDATE_OPENAPI=1 cargo test --test openapi`

mod common;

use common::{dovecot, Auth, Gateway};

const COMMITTED: &str = "openapi/openapi.json";

fn generated() -> String {
    let mut text = imap_gateway::http::openapi().to_pretty_json().unwrap();
    text.push('\n');
    text
}

#[test]
fn committed_spec_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(COMMITTED);
    let generated = generated();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{COMMITTED} is out of date: run `UPDATE_OPENAPI=1 cargo test --test openapi` and commit it"
    );
}

#[test]
fn every_operation_documents_problems_and_security() {
    let spec: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/v1/auth/token",
        "/v1/mailboxes",
        "/v1/mailboxes/{mailbox}",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains_key(route), "{route} is documented");
    }
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().unwrap() {
            if path.starts_with("/v1/mailboxes") {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} declares security"
                );
                let problems =
                    &operation["responses"]["4XX"]["content"]["application/problem+json"];
                assert!(
                    problems.is_object(),
                    "{method} {path} documents problem responses"
                );
            }
            assert!(
                operation["summary"].is_string(),
                "{method} {path} has a summary"
            );
        }
    }
}

/// Observation 8 of issue 23: the document referred to `HtmlMode` and `SentCopy`
/// without defining them, so generated clients dropped those parameters. Every
/// `$ref` must resolve.
#[test]
fn every_reference_resolves() {
    let spec: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    let mut refs = Vec::new();
    fn collect<'a>(value: &'a serde_json::Value, refs: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(target)) = map.get("$ref") {
                    refs.push(target);
                }
                map.values().for_each(|v| collect(v, refs));
            }
            serde_json::Value::Array(list) => list.iter().for_each(|v| collect(v, refs)),
            _ => {}
        }
    }
    collect(&spec, &mut refs);
    assert!(refs.len() > 50, "{} references", refs.len());
    for target in refs {
        let pointer = target.strip_prefix('#').expect("local references only");
        assert!(spec.pointer(pointer).is_some(), "{target} is not defined");
    }
}

#[tokio::test]
async fn the_gateway_serves_the_spec_and_swagger_ui() {
    let dovecot = dovecot();
    let gateway = Gateway::start(common::config_for(&dovecot)).await;
    let served = gateway.get("/openapi.json", &Auth::None).await;
    let expected: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(served.ok(200), &expected);
    let docs = reqwest::get(format!("{}/docs/", gateway.base))
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let html = docs.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "Swagger UI HTML is served");
    let script = reqwest::get(format!("{}/docs/swagger-ui-bundle.js", gateway.base))
        .await
        .unwrap();
    assert_eq!(
        script.status(),
        200,
        "Swagger UI assets come from the binary, not a CDN"
    );
    assert!(script.bytes().await.unwrap().len() > 100_000);
}
