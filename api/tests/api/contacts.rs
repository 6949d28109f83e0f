use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

async fn define(app: &TestApp, token: &str, name: &str, kind: &str) {
    let (status, body) = app
        .post(
            "/v1/contact-properties",
            token,
            json!({"name": name, "type": kind}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

on_both_backends! {
    async fn emails_are_trimmed_lower_cased_and_unique_per_account(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": " Ada.Lovelace+News@Example.COM ", "name": "Ada"})).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["email"], "ada.lovelace+news@example.com");
        assert_eq!(body["name"], "Ada");
        assert_eq!(body["properties"], json!({}));
        for fields in ["id", "created_at", "updated_at"] {
            assert!(body[fields].is_string(), "{fields}");
        }
        assert!(body.get("account_id").is_none());
        let (status, dup) = app.post("/v1/contacts", &acct.token, json!({"email": "ADA.LOVELACE+news@example.com"})).await;
        assert_problem(status, &dup, StatusCode::CONFLICT, "conflict");
    }

    async fn internationalised_domains_are_accepted_and_stored_as_ascii(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": "jürgen@bücher.example"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["email"], "jürgen@xn--bcher-kva.example");
        let (status, dup) = app.post("/v1/contacts", &acct.token, json!({"email": "JÜRGEN@xn--bcher-kva.example"})).await;
        assert_problem(status, &dup, StatusCode::CONFLICT, "conflict");
    }

    async fn invalid_addresses_are_refused_naming_the_field(app) {
        let acct = app.create_account("Acme").await;
        for bad in ["", "plainaddress", "a@b", "two@@example.com", "a b@example.com", "a..b@example.com", "a@-example.com"] {
            let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": bad})).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["errors"][0]["field"], "email", "{bad}: {body}");
        }
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"name": "no email"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "email");
        let (_, page) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(page["data"], json!([]));
    }

    async fn contacts_are_listed_in_pages_and_found_by_email(app) {
        let acct = app.create_account("Acme").await;
        let mut created = Vec::new();
        for i in 0..7 {
            created.push(app.contact(&acct.token, &format!("person{i}@example.com")).await);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/contacts?limit=3&cursor={c}"),
                None => "/v1/contacts?limit=3".to_owned(),
            };
            let (status, page) = app.get(&path, &acct.token).await;
            assert_eq!(status, StatusCode::OK);
            let data = page["data"].as_array().unwrap();
            assert!(data.len() <= 3);
            seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, created);

        let (status, page) = app.get("/v1/contacts?email=PERSON3@Example.com", &acct.token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        assert_eq!(page["data"][0]["id"], created[3].as_str());
        assert_eq!(page["next_cursor"], json!(null));

        let (status, body) = app.get("/v1/contacts?email=not-an-address", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let (status, body) = app.get("/v1/contacts?limit=501", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "limit");
        let (status, body) = app.get("/v1/contacts?limit=ten", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn a_contact_is_updated_by_merge_and_deleted(app) {
        let acct = app.create_account("Acme").await;
        define(&app, &acct.token, "plan", "string").await;
        define(&app, &acct.token, "seats", "number").await;
        let (_, contact) = app.post("/v1/contacts", &acct.token, json!({"email": "a@example.com", "name": "A", "properties": {"plan": "pro", "seats": 3}})).await;
        let id = contact["id"].as_str().unwrap();
        let path = format!("/v1/contacts/{id}");

        let (status, body) = app.patch(&path, &acct.token, json!({"properties": {"seats": 5}})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["properties"], json!({"plan": "pro", "seats": 5}));
        assert_eq!(body["name"], "A");

        let (status, body) = app.patch(&path, &acct.token, json!({"name": null, "properties": {"plan": null}})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["name"], json!(null));
        assert_eq!(body["properties"], json!({"seats": 5}));

        let (status, body) = app.patch(&path, &acct.token, json!({"email": "New@Example.com"})).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["email"], "new@example.com");
        let (_, fetched) = app.get(&path, &acct.token).await;
        assert_eq!(fetched, body);

        app.contact(&acct.token, "taken@example.com").await;
        let (status, body) = app.patch(&path, &acct.token, json!({"email": "taken@example.com"})).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
        let (status, body) = app.patch(&path, &acct.token, json!({"email": "broken"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

        assert_eq!(app.delete(&path, &acct.token).await.0, StatusCode::NO_CONTENT);
        let (status, body) = app.get(&path, &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(app.delete(&path, &acct.token).await.0, StatusCode::NOT_FOUND);
        assert_eq!(app.patch(&path, &acct.token, json!({"name": "x"})).await.0, StatusCode::NOT_FOUND);
    }

    async fn names_are_one_line_and_consent_evidence_is_screened_too(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": "a@example.com", "name": "Ada\r\nBcc: x@evil.example"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "name");
        let id = app.contact(&acct.token, "b@example.com").await;
        let (status, body) = app.post(&format!("/v1/contacts/{id}/consents"), &acct.token,
            json!({"purpose": "marketing_email", "status": "granted", "method": "form", "source": "form, card 4111 1111 1111 1111"})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        assert_eq!(body["field"], "source");
        let (status, body) = app.post(&format!("/v1/contacts/{id}/consents"), &acct.token,
            json!({"purpose": "marketing_email", "status": "granted", "method": "form", "source": "form", "evidence": {"ssn": "078-05-1120"}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        let (_, history) = app.get(&format!("/v1/contacts/{id}/consents"), &acct.token).await;
        assert_eq!(history["data"], json!([]));
    }

    async fn properties_must_be_defined_and_typed(app) {
        let acct = app.create_account("Acme").await;
        define(&app, &acct.token, "plan", "string").await;
        define(&app, &acct.token, "seats", "number").await;
        define(&app, &acct.token, "vip", "boolean").await;
        define(&app, &acct.token, "birthday", "date").await;

        let good = json!({"plan": "pro", "seats": 12.5, "vip": true, "birthday": "1990-05-17"});
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": "ok@example.com", "properties": good})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["properties"], good);

        let cases = [
            (json!({"unknown": "x"}), "properties.unknown"),
            (json!({"seats": "twelve"}), "properties.seats"),
            (json!({"vip": "yes"}), "properties.vip"),
            (json!({"birthday": "17/05/1990"}), "properties.birthday"),
            (json!({"plan": 42}), "properties.plan"),
        ];
        for (i, (properties, field)) in cases.into_iter().enumerate() {
            let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": format!("bad{i}@example.com"), "properties": properties})).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(body["errors"][0]["field"], field, "{body}");
        }
        let (_, page) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "no invalid contact was stored");
    }

    async fn card_numbers_and_ssns_are_refused_and_never_stored(app) {
        let acct = app.create_account("Acme").await;
        define(&app, &acct.token, "note", "string").await;
        define(&app, &acct.token, "ref", "number").await;
        let cases = [
            json!({"note": "4111 1111 1111 1111"}),
            json!({"note": "5500-0000-0000-0004"}),
            json!({"note": "card: 4111111111111111 exp 12/30"}),
            json!({"note": "078-05-1120"}),
            json!({"ref": 4111111111111111u64}),
            // Any separator, and full-width digits, are read as the card they spell.
            json!({"note": "4111.1111.1111.1111"}),
            json!({"note": "paid 4111/1111/1111/1111 today"}),
            json!({"note": "\u{FF14}\u{FF11}\u{FF11}\u{FF11}\u{3000}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{3000}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{3000}\u{FF11}\u{FF11}\u{FF11}\u{FF11}"}),
            json!({"note": "\u{FF14}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}\u{FF11}"}),
        ];
        for (i, properties) in cases.iter().enumerate() {
            let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": format!("p{i}@example.com"), "properties": properties})).await;
            assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
            let field = format!("properties.{}", properties.as_object().unwrap().keys().next().unwrap());
            assert_eq!(body["field"], field.as_str());
            let text = crate::helpers::text_without_ids(&body);
            assert!(!text.contains("4111") && !text.contains("0004") && !text.contains("1120"), "the value is not echoed: {text}");
        }
        let id = app.contact(&acct.token, "ok@example.com").await;
        let (status, body) = app.patch(&format!("/v1/contacts/{id}"), &acct.token, json!({"properties": {"note": "ssn 078-05-1120"}})).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        let (_, contact) = app.get(&format!("/v1/contacts/{id}"), &acct.token).await;
        assert_eq!(contact["properties"], json!({}));
        let (_, page) = app.get("/v1/contacts", &acct.token).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 1);
        // Values that merely look numeric pass.
        let (status, _) = app.post("/v1/contacts", &acct.token, json!({"email": "phone@example.com", "properties": {"note": "+1 415 555 0100"}})).await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = app.post("/v1/contacts", &acct.token, json!({"email": "pi@example.com", "properties": {"note": "41111111.11111111", "ref": 41111111.11111111}})).await;
        assert_eq!(status, StatusCode::CREATED, "a decimal point joins nothing: {body}");
    }
}
