use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

const REGENERATE: &str = "cargo run -q -p mailroom-api -- openapi > openapi.yaml";

#[tokio::test]
async fn the_served_document_is_the_committed_contract() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let served: serde_json::Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml"))
            .unwrap_or_else(|_| panic!("openapi.yaml is missing; create it with: {REGENERATE}"));
    let committed: serde_json::Value = serde_yaml::from_str(&committed).unwrap();
    assert!(
        served == committed,
        "openapi.yaml differs from the document the API serves; regenerate it with: {REGENERATE}"
    );
}

#[tokio::test]
async fn every_operation_is_named_tagged_and_uses_named_schemas() {
    let doc = serde_json::to_value(mailroom_api::openapi::document()).unwrap();
    let version = doc["openapi"].as_str().unwrap();
    assert!(
        version.starts_with("3.1") || version.starts_with("3.0"),
        "{version}"
    );
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                operation_ids.insert(id.to_owned()),
                "duplicate operationId {id}"
            );
            assert!(
                !op["tags"].as_array().unwrap().is_empty(),
                "{id} has no tag"
            );
            if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
                assert!(
                    schema.get("$ref").is_some(),
                    "{id}: request body schema is not named"
                );
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                if let Some(schema) = response.pointer("/content/application~1json/schema") {
                    assert!(
                        schema.get("$ref").is_some(),
                        "{id} {status}: response schema is not named"
                    );
                }
                if path.starts_with("/v1/") && status == "500" {
                    assert!(
                        response.get("$ref").is_some(),
                        "{id}: 500 is the shared problem response"
                    );
                }
            }
            if path.starts_with("/v1/") {
                assert!(
                    op["responses"].get("500").is_some(),
                    "{id} documents no errors"
                );
            }
        }
    }
    assert!(operation_ids.len() >= 20);
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let res = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    let res = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "/docs leads to the UI");
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::to_value(mailroom_api::openapi::document()).unwrap()
}

/// Every documented operation: (method, path).
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

/// A concrete path for a documented one: each `{parameter}` filled with a value of its kind.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    for segment in path.split('/').skip(1) {
        out.push('/');
        out.push_str(match segment {
            "{email}" => "a@example.com",
            "{name}" => "plan",
            "{token}" => "tok",
            s if s.starts_with('{') => "01970f6e-8d3c-7a51-9a1e-2f4c3b5d6e7f",
            s => s,
        });
    }
    out
}

/// Whether the router's default service gave the answer (no route took the request).
async fn unrouted(res: reqwest::Response) -> bool {
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["detail"] == "no such route")
}

#[tokio::test]
async fn every_route_the_app_serves_is_documented_and_every_documented_operation_is_served() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = document();
    let operations = documented(&doc);

    // The handlers' own route attributes, read from the source: each one is documented.
    let routes_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/routes");
    let mut handlers = BTreeSet::new();
    for entry in std::fs::read_dir(routes_dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        handlers.extend(route_attributes(&source));
    }
    let in_document: BTreeSet<(String, String)> = operations
        .iter()
        .map(|(m, p)| (m.clone(), p.strip_prefix("/v1").unwrap_or(p).to_owned()))
        .collect();
    let undocumented: Vec<_> = handlers.difference(&in_document).collect();
    assert!(
        undocumented.is_empty(),
        "handlers missing from the document: {undocumented:?}"
    );
    let unhandled: Vec<_> = in_document.difference(&handlers).collect();
    assert!(
        unhandled.is_empty(),
        "documented operations without a handler: {unhandled:?}"
    );

    // Over HTTP: every documented operation reaches a handler, and every other method on a
    // documented path reaches none (405 with exactly the documented methods in `Allow`).
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = app.url(&concrete(path));
        let served: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for method in METHODS {
            let res = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    &url,
                )
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            if served.contains(method) {
                assert!(
                    !unrouted(res).await,
                    "{method} {path} is documented but not served"
                );
            } else {
                assert_eq!(
                    res.status(),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path}"
                );
                let allow: BTreeSet<String> = res.headers()["allow"]
                    .to_str()
                    .unwrap()
                    .split(", ")
                    .map(str::to_lowercase)
                    .collect();
                let expected: BTreeSet<String> = served.iter().map(|m| m.to_string()).collect();
                assert_eq!(allow, expected, "Allow of {path}");
            }
        }
    }
}

/// The routes a handler file declares, as (method, path): its `#[get("/path")]`-style
/// attributes, and the paths given to a macro whose body holds such an attribute with a
/// `$path` (one handler per invocation).
fn route_attributes(source: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    let mut macro_name = None;
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("macro_rules! ") {
            macro_name = rest.split_whitespace().next().map(str::to_owned);
        }
        for method in METHODS {
            let Some(rest) = line.strip_prefix(&format!("#[{method}(")) else {
                continue;
            };
            match (
                rest.strip_prefix('"').and_then(|r| r.strip_suffix("\")]")),
                &macro_name,
            ) {
                (Some(path), _) => {
                    found.insert((method.to_owned(), path.to_owned()));
                }
                (None, Some(name)) => {
                    for invocation in source.split(&format!("{name}!(")).skip(1) {
                        let path = invocation.split('"').nth(1).unwrap();
                        found.insert((method.to_owned(), path.to_owned()));
                    }
                }
                (None, None) => panic!("a route attribute this test cannot read: {line}"),
            }
        }
    }
    found
}

#[test]
fn every_reference_in_the_document_resolves() {
    let doc = document();
    fn walk(value: &Value, doc: &Value, dangling: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    let pointer = reference.strip_prefix('#').unwrap_or(reference);
                    if doc.pointer(pointer).is_none() {
                        dangling.push(reference.clone());
                    }
                }
                map.values().for_each(|v| walk(v, doc, dangling));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, doc, dangling)),
            _ => {}
        }
    }
    let mut dangling = Vec::new();
    walk(&doc, &doc, &mut dangling);
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    let text = serde_json::to_string(&doc).unwrap();
    assert!(
        !text.contains("prefixItems"),
        "tuple schemas do not generate usable SDKs"
    );
}

#[test]
fn every_operation_declares_the_problems_it_can_answer() {
    let doc = document();
    let problem_ref = "#/components/schemas/Problem";
    let resolve = |response: &Value| -> Value {
        match response["$ref"].as_str() {
            Some(r) => doc.pointer(r.strip_prefix('#').unwrap()).unwrap().clone(),
            None => response.clone(),
        }
    };
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            let responses = op["responses"].as_object().unwrap();
            let public = op["security"] == serde_json::json!([]);
            let mut expected = vec!["500", "503"];
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            if !public {
                expected.extend(["401", "403"]);
            }
            if path.contains('{') {
                expected.push("404");
            }
            if op["parameters"].as_array().is_some_and(|p| !p.is_empty()) {
                expected.push("422");
            }
            for status in expected {
                if !responses.contains_key(status) {
                    missing
                        .entry(format!("{method} {path} ({id})"))
                        .or_default()
                        .push(status.into());
                }
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let response = resolve(response);
                    let schema = response.pointer("/content/application~1problem+json/schema/$ref");
                    assert_eq!(
                        schema.and_then(Value::as_str),
                        Some(problem_ref),
                        "{id} {status}: an error answer is a Problem document"
                    );
                }
            }
        }
    }
    assert!(missing.is_empty(), "undeclared error answers: {missing:#?}");
    let problem = &doc["components"]["schemas"]["Problem"];
    for field in [
        "type",
        "title",
        "status",
        "detail",
        "code",
        "errors",
        "request_id",
    ] {
        assert!(
            problem["properties"].get(field).is_some(),
            "Problem.{field}"
        );
    }
}
