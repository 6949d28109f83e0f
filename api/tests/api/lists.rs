//! Mailing lists: create, read, page through, change, delete, and the answers to bad input.

use std::collections::HashSet;

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// The ids of a collection page by page, following `next_cursor` with pages of `limit`;
/// asserts that no page but the last is short and that the last one has no cursor.
async fn pages_of_ids(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
            None => format!("{path}?limit={limit}"),
        };
        let (status, body) = app.get(&url, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let page = body["data"].as_array().unwrap();
        assert!(page.len() <= limit, "{body}");
        pages.push(
            page.iter()
                .map(|l| l["id"].as_str().unwrap().to_owned())
                .collect(),
        );
        match &body["next_cursor"] {
            Value::Null => return pages,
            Value::String(next) => {
                assert_eq!(page.len(), limit, "only the last page may be short: {body}");
                cursor = Some(next.clone());
            }
            other => panic!("next_cursor must be a string or null, got {other}"),
        }
    }
}

on_both_backends! {
    async fn a_created_list_is_answered_with_its_fields_but_not_its_account(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app
            .post("/v1/lists", &acct.token, json!({"name": "Newsletter", "description": "Weekly news", "double_opt_in": true}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created_at", "description", "double_opt_in", "id", "name", "updated_at"]);
        assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok(), "{body}");
        assert_eq!(body["name"], "Newsletter");
        assert_eq!(body["description"], "Weekly news");
        assert_eq!(body["double_opt_in"], true);
        assert_eq!(body["created_at"], body["updated_at"]);
        assert!(body.get("account_id").is_none(), "{body}");
    }

    async fn a_list_created_with_only_a_name_has_no_description_and_no_double_opt_in(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/lists", &acct.token, json!({"name": "  Plain  "})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["name"], "Plain");
        assert_eq!(body["description"], Value::Null);
        assert_eq!(body["double_opt_in"], false);
    }

    async fn a_created_list_can_be_read_back_unchanged(app) {
        let acct = app.create_account("Acme").await;
        let (_, created) = app.post("/v1/lists", &acct.token, json!({"name": "Newsletter", "description": "News"})).await;
        let id = created["id"].as_str().unwrap();
        let (status, got) = app.get(&format!("/v1/lists/{id}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got, created);
    }

    async fn paging_through_lists_two_at_a_time_yields_each_list_once_in_creation_order(app) {
        let acct = app.create_account("Acme").await;
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(app.list(&acct.token, &format!("List {i}")).await);
        }

        let pages = pages_of_ids(&app, &acct.token, "/v1/lists", 2).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
        let paged: Vec<String> = pages.concat();
        assert_eq!(paged, created, "every list once, oldest first");
        let unique: HashSet<&String> = paged.iter().collect();
        assert_eq!(unique.len(), paged.len(), "no duplicates across pages");

        let again = pages_of_ids(&app, &acct.token, "/v1/lists", 2).await;
        assert_eq!(again, pages, "the order is stable");

        let (status, whole) = app.get("/v1/lists?limit=500", &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{whole}");
        assert_eq!(whole["data"].as_array().unwrap().len(), created.len());
        assert_eq!(whole["next_cursor"], Value::Null);
    }

    async fn a_full_last_page_says_no_more_pages_follow(app) {
        let acct = app.create_account("Acme").await;
        let mut created = Vec::new();
        for i in 0..4 {
            created.push(app.list(&acct.token, &format!("List {i}")).await);
        }
        let pages = pages_of_ids(&app, &acct.token, "/v1/lists", 2).await;
        assert_eq!(pages, [&created[..2], &created[2..]], "no empty third page");
    }

    async fn an_account_without_lists_gets_an_empty_page(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.get("/v1/lists", &acct.token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"data": [], "next_cursor": null}));
    }

    async fn a_list_can_be_renamed_and_its_settings_changed(app) {
        let acct = app.create_account("Acme").await;
        let (_, created) = app.post("/v1/lists", &acct.token, json!({"name": "Old", "description": "Desc"})).await;
        let path = format!("/v1/lists/{}", created["id"].as_str().unwrap());

        let (status, renamed) = app.patch(&path, &acct.token, json!({"name": "New"})).await;
        assert_eq!(status, StatusCode::OK, "{renamed}");
        assert_eq!(renamed["name"], "New");
        assert_eq!(renamed["description"], "Desc", "an absent field is left alone");
        assert_eq!(renamed["double_opt_in"], false);
        assert_eq!(renamed["created_at"], created["created_at"]);

        let (status, described) = app.patch(&path, &acct.token, json!({"description": "Better"})).await;
        assert_eq!(status, StatusCode::OK, "{described}");
        assert_eq!(described["description"], "Better");
        assert_eq!(described["name"], "New");

        let (status, doi) = app.patch(&path, &acct.token, json!({"double_opt_in": true})).await;
        assert_eq!(status, StatusCode::OK, "{doi}");
        assert_eq!(doi["double_opt_in"], true);
        assert_eq!(doi["description"], "Better");

        let (status, got) = app.get(&path, &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, doi, "the changes were stored");
    }

    async fn a_null_description_clears_it(app) {
        let acct = app.create_account("Acme").await;
        let (_, created) = app.post("/v1/lists", &acct.token, json!({"name": "News", "description": "Desc"})).await;
        let path = format!("/v1/lists/{}", created["id"].as_str().unwrap());

        let (status, cleared) = app.patch(&path, &acct.token, json!({"description": null})).await;
        assert_eq!(status, StatusCode::OK, "{cleared}");
        assert_eq!(cleared["description"], Value::Null);
        assert_eq!(cleared["name"], "News");

        let (_, got) = app.get(&path, &acct.token).await;
        assert_eq!(got["description"], Value::Null);
    }

    async fn a_deleted_list_is_gone(app) {
        let acct = app.create_account("Acme").await;
        let id = app.list(&acct.token, "Doomed").await;
        let path = format!("/v1/lists/{id}");

        let (status, body) = app.delete(&path, &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null);

        let (status, body) = app.get(&path, &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.delete(&path, &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.patch(&path, &acct.token, json!({"name": "Back"})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (_, all) = app.get("/v1/lists", &acct.token).await;
        assert_eq!(all["data"], json!([]));
    }

    async fn a_list_needs_a_name(app) {
        let acct = app.create_account("Acme").await;
        for name in ["", "   "] {
            let (status, body) = app.post("/v1/lists", &acct.token, json!({"name": name})).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["errors"][0]["field"], "name", "{body}");
        }
        let (status, body) = app.post("/v1/lists", &acct.token, json!({"description": "no name"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "name", "{body}");

        let id = app.list(&acct.token, "Named").await;
        let (status, body) = app.patch(&format!("/v1/lists/{id}"), &acct.token, json!({"name": ""})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "name", "{body}");
        let (_, got) = app.get(&format!("/v1/lists/{id}"), &acct.token).await;
        assert_eq!(got["name"], "Named", "a refused change changes nothing");
    }

    async fn an_unknown_field_in_a_list_body_is_refused(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/lists", &acct.token, json!({"name": "News", "colour": "red"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

        let id = app.list(&acct.token, "News").await;
        let (status, body) = app.patch(&format!("/v1/lists/{id}"), &acct.token, json!({"account_id": acct.id})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

        let (_, all) = app.get("/v1/lists", &acct.token).await;
        assert_eq!(all["data"].as_array().unwrap().len(), 1, "the refused create stored nothing");
    }

    async fn a_cursor_the_api_did_not_issue_is_refused(app) {
        let acct = app.create_account("Acme").await;
        app.list(&acct.token, "News").await;
        let (status, body) = app.get("/v1/lists?cursor=not-a-cursor!", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "cursor", "{body}");
    }

    async fn a_page_size_outside_one_to_five_hundred_is_refused(app) {
        let acct = app.create_account("Acme").await;
        for limit in ["0", "-1", "501"] {
            let (status, body) = app.get(&format!("/v1/lists?limit={limit}"), &acct.token).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["errors"][0]["field"], "limit", "{body}");
        }
        let (status, body) = app.get("/v1/lists?limit=many", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn a_list_body_that_is_not_json_is_a_malformed_request(app) {
        let acct = app.create_account("Acme").await;
        let res = app
            .client
            .post(app.url("/v1/lists"))
            .bearer_auth(&acct.token)
            .header(CONTENT_TYPE, "application/json")
            .body(r#"{"name": "News""#)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "malformed_request");
    }

    async fn a_list_body_sent_as_plain_text_is_an_unsupported_media_type(app) {
        let acct = app.create_account("Acme").await;
        let res = app
            .client
            .post(app.url("/v1/lists"))
            .bearer_auth(&acct.token)
            .header(CONTENT_TYPE, "text/plain")
            .body(r#"{"name": "News"}"#)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap();
        assert_problem(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let (_, all) = app.get("/v1/lists", &acct.token).await;
        assert_eq!(all["data"], json!([]));
    }

    async fn a_list_path_that_is_not_an_id_is_not_found(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.get("/v1/lists/not-a-uuid", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.patch("/v1/lists/12345", &acct.token, json!({"name": "X"})).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.delete("/v1/lists/not-a-uuid", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    async fn an_unknown_list_id_is_not_found(app) {
        let acct = app.create_account("Acme").await;
        let path = format!("/v1/lists/{}", uuid::Uuid::now_v7());
        let (status, body) = app.get(&path, &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }

    async fn lists_require_a_token(app) {
        let (status, body) = app.request(reqwest::Method::GET, "/v1/lists", None, None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) = app.request(reqwest::Method::POST, "/v1/lists", Some("garbage"), Some(json!({"name": "X"}))).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }
}
