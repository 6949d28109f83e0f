//! The suppression list: addresses are added once, found however they are spelled, listed
//! by reason and removed — except the entries that keep an erased person unmailed.

use mailroom_domain::Id;
use mailroom_domain::contacts::EmailAddress;
use mailroom_domain::store::DbConnection;
use mailroom_domain::suppressions::{HashKey, Suppression, SuppressionReason, email_hash};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// Runs `work` on a connection of its own to the app's database.
pub async fn with_db<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut DbConnection) -> T + Send + 'static,
) -> T {
    let url = app.database_url();
    tokio::task::spawn_blocking(move || work(&mut DbConnection::open(&url).unwrap()))
        .await
        .unwrap()
}

/// A token of a new key of the account holding only `scopes`.
pub async fn scoped_token(app: &TestApp, acct: &TestAccount, scopes: &[&str]) -> String {
    let (status, key) = app
        .post(
            "/v1/api-keys",
            &acct.token,
            json!({"name": "scoped", "scopes": scopes}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    app.token_for(key["id"].as_str().unwrap(), key["secret"].as_str().unwrap())
        .await
}

/// The key the test app hashes with (`MAILROOM_HASH_KEY` of `base_vars`).
pub fn test_hash_key() -> HashKey {
    HashKey::new(&SecretString::from("test-hash-key"))
}

fn email(raw: &str) -> EmailAddress {
    EmailAddress::parse(raw).unwrap()
}

async fn suppress(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, entry) = app.post("/v1/suppressions", token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{entry}");
    entry
}

/// Every address of the suppression list at `path`, in pages of `limit`.
async fn listed(app: &TestApp, token: &str, path: &str, limit: usize) -> Vec<Value> {
    let entries = app.all_pages(token, path, limit).await;
    entries.iter().map(|s| s["email"].clone()).collect()
}

/// Suppresses an address as erasure does: through the domain, as no endpoint can.
async fn erase(app: &TestApp, acct: &TestAccount, address: &'static str) -> Suppression {
    let account: Id = acct.id.parse().unwrap();
    with_db(app, move |conn| {
        Suppression::add(
            conn,
            account,
            &test_hash_key(),
            &email(address),
            SuppressionReason::Erasure,
            None,
        )
        .unwrap()
        .suppression
    })
    .await
}

on_both_backends! {
    async fn addresses_are_suppressed_and_listed_by_reason(app) {
        let acct = app.create_account("Acme").await;
        let manual = suppress(&app, &acct.token, json!({"email": "ada@example.com"})).await;
        assert!(manual["id"].is_string(), "{manual}");
        assert_eq!(manual["email"], "ada@example.com");
        assert_eq!(manual["reason"], "manual", "the default reason");
        assert_eq!(manual["note"], Value::Null);
        assert!(manual["created_at"].is_string(), "{manual}");
        assert!(manual.get("email_hash").is_none(), "the hash is never shown: {manual}");
        assert!(manual.get("account_id").is_none(), "{manual}");

        let bounce = suppress(&app, &acct.token, json!({"email": "bob@example.com", "reason": "hard_bounce", "note": " 550 5.1.1 user unknown "})).await;
        assert_eq!(bounce["reason"], "hard_bounce");
        assert_eq!(bounce["note"], "550 5.1.1 user unknown");
        suppress(&app, &acct.token, json!({"email": "carol@example.com", "reason": "complaint"})).await;
        suppress(&app, &acct.token, json!({"email": "dan@example.com", "reason": "unsubscribe"})).await;
        suppress(&app, &acct.token, json!({"email": "erin@example.com", "reason": "hard_bounce"})).await;

        let everyone = ["ada", "bob", "carol", "dan", "erin"].map(|n| json!(format!("{n}@example.com")));
        assert_eq!(listed(&app, &acct.token, "/v1/suppressions", 2).await, everyone, "oldest first");
        assert_eq!(
            listed(&app, &acct.token, "/v1/suppressions?reason=hard_bounce", 1).await,
            [json!("bob@example.com"), json!("erin@example.com")]
        );
        assert_eq!(listed(&app, &acct.token, "/v1/suppressions?reason=complaint", 10).await, [json!("carol@example.com")]);
        assert!(listed(&app, &acct.token, "/v1/suppressions?reason=erasure", 10).await.is_empty());

        let (status, body) = app.get("/v1/suppressions?reason=bounced", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "reason");
        let (status, body) = app.get("/v1/suppressions?limit=501", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn suppressing_an_address_again_answers_the_existing_entry(app) {
        let acct = app.create_account("Acme").await;
        let first = suppress(&app, &acct.token, json!({"email": "ada@example.com", "reason": "complaint"})).await;
        for again in [
            json!({"email": "ada@example.com", "reason": "complaint"}),
            json!({"email": "  ADA@Example.COM ", "reason": "manual", "note": "again"}),
        ] {
            let (status, entry) = app.post("/v1/suppressions", &acct.token, again).await;
            assert_eq!(status, StatusCode::OK, "{entry}");
            assert_eq!(entry, first, "the first entry stands");
        }
        assert_eq!(listed(&app, &acct.token, "/v1/suppressions", 10).await.len(), 1);
    }

    async fn addresses_are_normalised_however_they_are_written(app) {
        let acct = app.create_account("Acme").await;
        let entry = suppress(&app, &acct.token, json!({"email": " Ada.Lovelace+News@Example.COM "})).await;
        assert_eq!(entry["email"], "ada.lovelace+news@example.com");
        let entry = suppress(&app, &acct.token, json!({"email": "jürgen@Bücher.example"})).await;
        assert_eq!(entry["email"], "jürgen@xn--bcher-kva.example");

        let (status, body) = app.delete("/v1/suppressions/ADA.LOVELACE%2Bnews%40example.com", &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = app.delete("/v1/suppressions/J%C3%BCrgen@xn--bcher-kva.EXAMPLE", &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert!(listed(&app, &acct.token, "/v1/suppressions", 10).await.is_empty());

        suppress(&app, &acct.token, json!({"email": "plus+tag@example.com"})).await;
        let (status, body) = app.delete("/v1/suppressions/%20Plus+Tag@example.com%20", &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "a literal + in a path is a plus: {body}");
    }

    async fn removing_an_address_lets_it_be_mailed_again(app) {
        let acct = app.create_account("Acme").await;
        suppress(&app, &acct.token, json!({"email": "ada@example.com"})).await;
        suppress(&app, &acct.token, json!({"email": "bob@example.com"})).await;
        let (status, body) = app.delete("/v1/suppressions/ada@example.com", &acct.token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null);
        assert_eq!(listed(&app, &acct.token, "/v1/suppressions", 10).await, [json!("bob@example.com")]);

        let (status, body) = app.delete("/v1/suppressions/ada@example.com", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.delete("/v1/suppressions/nobody@example.com", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.delete("/v1/suppressions/not-an-address", &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "email");

        let account: Id = acct.id.parse().unwrap();
        let reasons = with_db(&app, move |conn| {
            (
                Suppression::is_suppressed(conn, account, &test_hash_key(), &email("ada@example.com")).unwrap(),
                Suppression::is_suppressed(conn, account, &test_hash_key(), &email("BOB@example.com")).unwrap(),
            )
        }).await;
        assert_eq!(reasons, (None, Some(SuppressionReason::Manual)));
    }

    async fn invalid_input_is_refused_naming_the_field(app) {
        let acct = app.create_account("Acme").await;
        let cases = [
            (json!({"email": "not-an-address"}), "email"),
            (json!({"email": "two@@example.com"}), "email"),
            (json!({"email": ""}), "email"),
            (json!({"email": 42}), "email"),
            (json!({"reason": "manual"}), "email"),
            (json!({"email": "ada@example.com", "reason": "erasure"}), "reason"),
            (json!({"email": "ada@example.com", "reason": "bounced"}), "reason"),
            (json!({"email": "ada@example.com", "note": "n".repeat(1001)}), "note"),
            (json!({"email": "ada@example.com", "email_hash": "abc"}), "email_hash"),
        ];
        for (body, field) in cases {
            let (status, problem) = app.post("/v1/suppressions", &acct.token, body.clone()).await;
            assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
        }
        let (status, problem) = app.post("/v1/suppressions", &acct.token, json!({"email": "ada@example.com", "note": "card 4111 1111 1111 1111"})).await;
        assert_problem(status, &problem, StatusCode::UNPROCESSABLE_ENTITY, "sensitive_data_rejected");
        assert!(listed(&app, &acct.token, "/v1/suppressions", 10).await.is_empty());
    }

    async fn an_erased_address_stays_suppressed_and_cannot_be_removed(app) {
        let acct = app.create_account("Acme").await;
        let erased = erase(&app, &acct, "ada@example.com").await;
        assert_eq!(erased.email, None, "an erasure entry keeps only the hash");
        assert_eq!(erased.email_hash, email_hash(&test_hash_key(), &email("ada@example.com")));

        let (_, page) = app.get("/v1/suppressions?reason=erasure", &acct.token).await;
        assert_eq!(page["data"][0]["id"], erased.id.to_string());
        assert_eq!(page["data"][0]["email"], Value::Null);
        assert_eq!(page["data"][0]["reason"], "erasure");

        let (status, body) = app.delete("/v1/suppressions/Ada@Example.com", &acct.token).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
        assert!(body["detail"].as_str().unwrap().contains("erased"), "{body}");
        let (status, entry) = app.post("/v1/suppressions", &acct.token, json!({"email": "ADA@example.com", "reason": "manual"})).await;
        assert_eq!(status, StatusCode::OK, "re-adding finds the erasure entry: {entry}");
        assert_eq!(entry["reason"], "erasure");
        assert_eq!(entry["email"], Value::Null);

        // Erasing an address that was already suppressed turns its entry into an erasure
        // entry, dropping the address.
        let bounced = suppress(&app, &acct.token, json!({"email": "bob@example.com", "reason": "hard_bounce", "note": "bounced"})).await;
        let erased = erase(&app, &acct, "bob@example.com").await;
        assert_eq!(erased.id.to_string(), bounced["id"].as_str().unwrap());
        assert_eq!((erased.reason(), erased.email), (SuppressionReason::Erasure, None));
        let (status, body) = app.delete("/v1/suppressions/bob@example.com", &acct.token).await;
        assert_problem(status, &body, StatusCode::CONFLICT, "conflict");
        assert_eq!(listed(&app, &acct.token, "/v1/suppressions", 10).await, [Value::Null, Value::Null]);
    }

    async fn the_sender_checks_a_batch_of_addresses_by_hash(app) {
        let acct = app.create_account("Acme").await;
        suppress(&app, &acct.token, json!({"email": "ada@example.com", "reason": "unsubscribe"})).await;
        erase(&app, &acct, "bob@example.com").await;
        let account: Id = acct.id.parse().unwrap();
        let key = test_hash_key();
        let hashes: Vec<String> = ["ada@example.com", "bob@example.com", "carol@example.com"]
            .iter()
            .map(|a| email_hash(&key, &email(a)))
            .collect();
        let (suppressed, elsewhere, bob) = with_db(&app, {
            let hashes = hashes.clone();
            move |conn| {
                (
                    Suppression::suppressed_hashes(conn, account, &hashes).unwrap(),
                    Suppression::suppressed_hashes(conn, Id::new(), &hashes).unwrap(),
                    Suppression::is_suppressed(conn, account, &test_hash_key(), &email(" BOB@example.com")).unwrap(),
                )
            }
        }).await;
        assert_eq!(suppressed, hashes[..2].iter().cloned().collect::<std::collections::HashSet<_>>());
        assert!(elsewhere.is_empty());
        assert_eq!(bob, Some(SuppressionReason::Erasure));
    }

    async fn reading_and_changing_the_list_need_their_scopes(app) {
        let acct = app.create_account("Acme").await;
        suppress(&app, &acct.token, json!({"email": "ada@example.com"})).await;
        let reader = scoped_token(&app, &acct, &["suppressions:read"]).await;
        let (status, body) = app.get("/v1/suppressions", &reader).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app.post("/v1/suppressions", &reader, json!({"email": "bob@example.com"})).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
        let (status, body) = app.delete("/v1/suppressions/ada@example.com", &reader).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

        let contacts_only = scoped_token(&app, &acct, &["contacts:read", "contacts:write"]).await;
        let (status, body) = app.get("/v1/suppressions", &contacts_only).await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");

        let writer = scoped_token(&app, &acct, &["suppressions:write"]).await;
        let (status, body) = app.delete("/v1/suppressions/ada@example.com", &writer).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    async fn accounts_keep_separate_suppression_lists(app) {
        let owner = app.create_account("Owner").await;
        let other = app.create_account("Other").await;
        suppress(&app, &owner.token, json!({"email": "ada@example.com", "reason": "complaint"})).await;

        assert!(listed(&app, &other.token, "/v1/suppressions", 10).await.is_empty());
        let (status, body) = app.delete("/v1/suppressions/ada@example.com", &other.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(listed(&app, &owner.token, "/v1/suppressions", 10).await, [json!("ada@example.com")]);

        // The other account suppressing an address does not suppress it for the owner.
        let theirs = suppress(&app, &other.token, json!({"email": "bob@example.com"})).await;
        assert_eq!(theirs["email"], "bob@example.com");
        let (status, ada) = app.post("/v1/suppressions", &other.token, json!({"email": "ada@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "the owner's entry is not the other's: {ada}");
        assert_eq!(ada["reason"], "manual");
        assert_eq!(listed(&app, &owner.token, "/v1/suppressions", 10).await, [json!("ada@example.com")]);

        let owner_id: Id = owner.id.parse().unwrap();
        let bob = with_db(&app, move |conn| {
            Suppression::is_suppressed(conn, owner_id, &test_hash_key(), &email("bob@example.com")).unwrap()
        }).await;
        assert_eq!(bob, None);
        let (status, body) = app.post("/v1/suppressions", &owner.token, json!({"email": "bob@example.com"})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}
