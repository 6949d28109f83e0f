use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends! {
    async fn properties_are_defined_listed_and_unique(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contact-properties", &acct.token, json!({"name": "plan", "type": "string"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["name"], "plan");
        assert_eq!(body["type"], "string");
        app.post("/v1/contact-properties", &acct.token, json!({"name": "age", "type": "number"})).await;
        let (status, body) = app.post("/v1/contact-properties", &acct.token, json!({"name": "plan", "type": "number"})).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
        let (status, page) = app.get("/v1/contact-properties", &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = page["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["age", "plan"]);
        assert_eq!(page["next_cursor"], json!(null));
    }

    async fn bad_property_definitions_are_refused(app) {
        let acct = app.create_account("Acme").await;
        for (body, field) in [
            (json!({"name": "Plan", "type": "string"}), "name"),
            (json!({"name": "9lives", "type": "string"}), "name"),
            (json!({"name": "email", "type": "string"}), "name"),
            (json!({"name": "ok", "type": "colour"}), "type"),
            (json!({"name": "ok"}), "type"),
        ] {
            let (status, problem) = app.post("/v1/contact-properties", &acct.token, body).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
    }

    async fn deleting_a_property_removes_its_values_from_contacts(app) {
        let acct = app.create_account("Acme").await;
        app.post("/v1/contact-properties", &acct.token, json!({"name": "plan", "type": "string"})).await;
        app.post("/v1/contact-properties", &acct.token, json!({"name": "seats", "type": "number"})).await;
        let (_, contact) = app.post("/v1/contacts", &acct.token, json!({"email": "a@example.com", "properties": {"plan": "pro", "seats": 2}})).await;
        let id = contact["id"].as_str().unwrap();

        assert_eq!(app.delete("/v1/contact-properties/plan", &acct.token).await.0, StatusCode::NO_CONTENT);
        let (_, contact) = app.get(&format!("/v1/contacts/{id}"), &acct.token).await;
        assert_eq!(contact["properties"], json!({"seats": 2}));
        let (status, body) = app.delete("/v1/contact-properties/plan", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.patch(&format!("/v1/contacts/{id}"), &acct.token, json!({"properties": {"plan": "free"}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}
