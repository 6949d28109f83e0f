use reqwest::StatusCode;
use serde_json::json;

use crate::on_both_backends;

on_both_backends! {
    async fn a_new_account_can_create_and_read_a_contact(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": "  Ada@Example.COM "})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["email"], "ada@example.com");
        let id = body["id"].as_str().unwrap();
        let (status, got) = app.get(&format!("/v1/contacts/{id}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, body);
    }
}
