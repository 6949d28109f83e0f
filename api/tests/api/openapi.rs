use reqwest::StatusCode;

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
