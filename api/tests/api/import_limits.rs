//! The shape an import file may have: a header of at most 1,000 columns and 64 KiB, rows of
//! at most 64 KiB. A file beyond them is refused with a 422 naming the limit as it streams
//! in, before anything holds it whole — a 50 MB header once took the server to 3 GB.

use futures_util::stream;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;

async fn upload(
    app: &TestApp,
    token: &str,
    list: &str,
    body: reqwest::Body,
) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/v1/lists/{list}/imports")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `first`, then `repeat` × `piece`, then `last`, streamed in pieces as a client uploads.
fn streamed(first: &str, piece: String, repeat: usize, last: &str) -> reqwest::Body {
    let parts = std::iter::once(first.to_owned())
        .chain(std::iter::repeat_n(piece, repeat))
        .chain(std::iter::once(last.to_owned()))
        .map(Ok::<_, std::io::Error>);
    reqwest::Body::wrap_stream(stream::iter(parts))
}

fn assert_refused_naming(status: StatusCode, body: &Value, limit: &str) {
    assert_problem(
        status,
        body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(body["errors"][0]["field"], "body", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(limit),
        "the limit ({limit}) is named: {body}"
    );
}

async fn no_imports(app: &TestApp, token: &str, list: &str) {
    let (status, imports) = app.get(&format!("/v1/lists/{list}/imports"), token).await;
    assert_eq!(status, StatusCode::OK, "{imports}");
    assert_eq!(
        imports["data"].as_array().unwrap().len(),
        0,
        "nothing was stored: {imports}"
    );
}

on_both_backends! {
    async fn a_50_mb_header_of_repeated_columns_is_refused_naming_the_column_limit(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        // `email,a,a,a,…`: 50 MiB of header in 64 KiB pieces, then one row.
        let piece = ",a".repeat(32 * 1024);
        let body = streamed("email", piece, 800, "\nada@example.com\n");
        let (status, problem) = upload(&app, &acct.token, &list, body).await;
        assert_refused_naming(status, &problem, "more than 1000 columns");
        no_imports(&app, &acct.token, &list).await;
    }

    async fn a_header_or_a_row_longer_than_64_kib_is_refused_naming_the_byte_limit(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let long_name = "x".repeat(16 * 1024);
        let body = streamed("email", format!(",{long_name}"), 5, "\nada@example.com\n");
        let (status, problem) = upload(&app, &acct.token, &list, body).await;
        assert_refused_naming(status, &problem, "header row is longer than 65536 bytes");

        // A row of one quoted field spanning lines counts as the one row it is.
        let body = streamed("email,notes\nada@example.com,ok\nb@example.com,\"", "line\n".repeat(4096), 4, "\"\n");
        let (status, problem) = upload(&app, &acct.token, &list, body).await;
        assert_refused_naming(status, &problem, "row 3 is longer than 65536 bytes");
        no_imports(&app, &acct.token, &list).await;
    }

    async fn a_header_within_the_limits_with_repeated_names_is_imported(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let body = streamed("email", ",a".to_owned(), 998, ",b\nada@example.com\n");
        let (status, queued) = upload(&app, &acct.token, &list, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
        assert_eq!(queued["ignored_columns"], serde_json::json!(["a", "b"]), "each name once: {queued}");
    }
}
