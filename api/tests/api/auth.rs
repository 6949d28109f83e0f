use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

fn sign(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

on_both_backends! {
    async fn a_key_is_exchanged_for_a_bearer_token_with_its_scopes(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app
            .request(Method::POST, "/v1/auth/token", None, Some(json!({"key_id": acct.key_id, "secret": acct.secret})))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scopes"], json!(["*"]));
        assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
    }

    async fn a_wrong_secret_or_unknown_key_gets_401(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app
            .request(Method::POST, "/v1/auth/token", None, Some(json!({"key_id": acct.key_id, "secret": "mrk_wrong"})))
            .await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let unknown = uuid::Uuid::now_v7().to_string();
        let (status, body) = app
            .request(Method::POST, "/v1/auth/token", None, Some(json!({"key_id": unknown, "secret": acct.secret})))
            .await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    }

    async fn missing_garbage_expired_tampered_and_unsigned_tokens_get_401(app) {
        let acct = app.create_account("Acme").await;
        let res = app.client.get(app.url("/v1/contacts")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        assert_eq!(res.headers()["content-type"], "application/problem+json");

        let (status, body) = app.get("/v1/contacts", "not-a-jwt").await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

        let claims = |exp: i64| json!({"sub": acct.key_id, "acct": acct.id, "scopes": ["*"], "iss": "mailroom", "iat": now() - 7200, "exp": exp});
        // A token minted by this test with the server's secret works while valid…
        let valid = sign(claims(now() + 600), JWT_SECRET);
        assert_eq!(app.get("/v1/contacts", &valid).await.0, StatusCode::OK);
        // …and not once expired.
        let expired = sign(claims(now() - 60), JWT_SECRET);
        let (status, body) = app.get("/v1/contacts", &expired).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

        let forged = sign(claims(now() + 600), "some-other-secret");
        assert_eq!(app.get("/v1/contacts", &forged).await.0, StatusCode::UNAUTHORIZED);

        // Another account id in the payload, original signature: tampered.
        let parts: Vec<&str> = acct.token.split('.').collect();
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        payload["acct"] = json!(uuid::Uuid::now_v7().to_string());
        let tampered = format!("{}.{}.{}", parts[0], engine.encode(payload.to_string()), parts[2]);
        assert_eq!(app.get("/v1/contacts", &tampered).await.0, StatusCode::UNAUTHORIZED);

        let none_header = engine.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(app.get("/v1/contacts", &unsigned).await.0, StatusCode::UNAUTHORIZED);
    }

    async fn a_token_without_the_scope_gets_403(app) {
        let acct = app.create_account("Acme").await;
        let (status, key) = app
            .post("/v1/api-keys", &acct.token, json!({"name": "reader", "scopes": ["contacts:read"]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        assert_eq!(key["scopes"], json!(["contacts:read"]));
        let reader = app.token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap()).await;
        assert_eq!(app.get("/v1/contacts", &reader).await.0, StatusCode::OK);
        let (status, body) = app.post("/v1/contacts", &reader, json!({"email": "a@example.com"})).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, body) = app.get("/v1/lists", &reader).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, body) = app.get("/v1/api-keys", &reader).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }

    async fn reading_members_or_exports_needs_contacts_read_as_well_as_lists_read(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (_, key) = app.post("/v1/api-keys", &acct.token, json!({"name": "lists", "scopes": ["lists:read"]})).await;
        let token = app.token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap()).await;
        assert_eq!(app.get(&format!("/v1/lists/{list}"), &token).await.0, StatusCode::OK);
        for path in [format!("/v1/lists/{list}/members"), format!("/v1/lists/{list}/export")] {
            let (status, body) = app.get(&path, &token).await;
            assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        }
    }

    async fn a_key_cannot_mint_a_key_stronger_than_itself(app) {
        let acct = app.create_account("Acme").await;
        let (_, key) = app
            .post("/v1/api-keys", &acct.token, json!({"name": "keys", "scopes": ["api_keys:write", "contacts:read"]}))
            .await;
        let token = app.token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap()).await;
        let (status, body) = app.post("/v1/api-keys", &token, json!({"name": "x", "scopes": ["*"]})).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, _) = app.post("/v1/api-keys", &token, json!({"name": "x", "scopes": ["contacts:read"]})).await;
        assert_eq!(status, StatusCode::CREATED);
    }

    async fn a_key_cannot_revoke_a_key_stronger_than_itself(app) {
        let acct = app.create_account("Acme").await;
        let (_, keys) = app
            .post("/v1/api-keys", &acct.token, json!({"name": "keys", "scopes": ["api_keys:write", "contacts:read"]}))
            .await;
        let token = app.token_for(keys["id"].as_str().unwrap(), keys["secret"].as_str().unwrap()).await;
        let (_, lists) = app
            .post("/v1/api-keys", &acct.token, json!({"name": "lists", "scopes": ["contacts:read", "lists:read"]}))
            .await;
        // The account's first key holds `*`; another holds a scope the caller lacks.
        for (target, lacks) in [(acct.key_id.as_str(), "*"), (lists["id"].as_str().unwrap(), "lists:read")] {
            let (status, body) = app.delete(&format!("/v1/api-keys/{target}"), &token).await;
            assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
            assert!(body["detail"].as_str().unwrap().contains(lacks), "{body}");
        }
        // Both still work.
        assert_eq!(app.get("/v1/contacts", &acct.token).await.0, StatusCode::OK);
        assert_eq!(app.get(&format!("/v1/api-keys/{}", lists["id"].as_str().unwrap()), &acct.token).await.0, StatusCode::OK);
        // A key it covers, it may revoke; and itself.
        let (_, weaker) = app.post("/v1/api-keys", &token, json!({"name": "weaker", "scopes": ["contacts:read"]})).await;
        assert_eq!(app.delete(&format!("/v1/api-keys/{}", weaker["id"].as_str().unwrap()), &token).await.0, StatusCode::NO_CONTENT);
        assert_eq!(app.delete(&format!("/v1/api-keys/{}", keys["id"].as_str().unwrap()), &token).await.0, StatusCode::NO_CONTENT);
    }

    async fn api_keys_are_listed_without_secrets_and_revocation_ends_their_tokens(app) {
        let acct = app.create_account("Acme").await;
        let (_, key) = app.post("/v1/api-keys", &acct.token, json!({"name": "ci", "scopes": ["contacts:read"]})).await;
        let key_id = key["id"].as_str().unwrap();
        let secret = key["secret"].as_str().unwrap();
        assert!(secret.starts_with("mrk_"));
        let token = app.token_for(key_id, secret).await;

        let (status, page) = app.get("/v1/api-keys", &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["data"].as_array().unwrap().len(), 2);
        assert!(!page.to_string().contains(secret));
        assert!(page["data"].as_array().unwrap().iter().all(|k| k.get("secret").is_none()));
        let (status, one) = app.get(&format!("/v1/api-keys/{key_id}"), &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["name"], "ci");

        let (status, _) = app.delete(&format!("/v1/api-keys/{key_id}"), &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = app.get("/v1/contacts", &token).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, _) = app
            .request(Method::POST, "/v1/auth/token", None, Some(json!({"key_id": key_id, "secret": secret})))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (_, page) = app.get("/v1/api-keys", &acct.token).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        assert_eq!(app.delete(&format!("/v1/api-keys/{key_id}"), &acct.token).await.0, StatusCode::NOT_FOUND);
    }

    async fn api_key_requests_are_validated(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/api-keys", &acct.token, json!({"name": "x", "scopes": ["contacts:explode"]})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "scopes[0]");
        let (status, body) = app.post("/v1/api-keys", &acct.token, json!({"name": "x", "scopes": []})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "scopes");
        let (status, body) = app.post("/v1/api-keys", &acct.token, json!({"name": " ", "scopes": ["*"]})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "name");
    }

    async fn the_admin_api_needs_the_admin_token(app) {
        let (status, body) = app.request(Method::POST, "/v1/admin/accounts", None, Some(json!({"name": "x"}))).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) = app.request(Method::POST, "/v1/admin/accounts", Some("wrong"), Some(json!({"name": "x"}))).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let acct = app.create_account("Acme").await;
        let (status, body) = app.request(Method::POST, "/v1/admin/accounts", Some(&acct.token), Some(json!({"name": "x"}))).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) = app.request(Method::POST, "/v1/admin/accounts", Some(ADMIN_TOKEN), Some(json!({"name": ""}))).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn an_account_creation_answers_the_account_and_its_first_key_once(app) {
        let (status, body) = app.request(Method::POST, "/v1/admin/accounts", Some(ADMIN_TOKEN), Some(json!({"name": "Acme"}))).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["account"]["name"], "Acme");
        assert!(body["account"]["id"].is_string());
        assert_eq!(body["api_key"]["scopes"], json!(["*"]));
        assert!(body["api_key"]["secret"].as_str().unwrap().starts_with("mrk_"));
    }
}

#[tokio::test]
async fn with_no_admin_token_configured_the_admin_api_is_off() {
    let app = TestApp::spawn_with(Backend::Sqlite, |vars| {
        vars.remove("MAILROOM_ADMIN_TOKEN");
    })
    .await;
    // Embedded mode generates one into secrets.json; a shared database has none.
    let secrets = std::fs::read_to_string(app.data_dir.join("secrets.json")).unwrap();
    let generated: serde_json::Value = serde_json::from_str(&secrets).unwrap();
    let token = generated["admin_token"].as_str().unwrap();
    let (status, _) = app
        .request(
            Method::POST,
            "/v1/admin/accounts",
            Some(token),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let pg = TestApp::spawn_with(Backend::Postgres, |vars| {
        vars.remove("MAILROOM_ADMIN_TOKEN");
    })
    .await;
    let (status, body) = pg
        .request(
            Method::POST,
            "/v1/admin/accounts",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
}
