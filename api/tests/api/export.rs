//! List export: CSV and NDJSON, streamed in batches.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// An export as the client sees it.
struct Export {
    status: StatusCode,
    content_type: String,
    disposition: String,
    text: String,
}

async fn export(app: &TestApp, token: &str, list: &str, query: &str) -> Export {
    let res = app
        .client
        .get(app.url(&format!("/v1/lists/{list}/export{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let header = |name| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (content_type, disposition) = (header(CONTENT_TYPE), header(CONTENT_DISPOSITION));
    Export {
        status: res.status(),
        content_type,
        disposition,
        text: res.text().await.unwrap(),
    }
}

/// RFC 4180 records: fields split on commas, quoted fields may hold commas, doubled quotes
/// and line breaks; records end with CRLF.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "the last record ends with CRLF: {text:?}"
    );
    records
}

fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
        .with_timezone(&Utc)
}

/// Every member of a list as the members API shows them, by email.
async fn members_by_email(app: &TestApp, token: &str, list: &str) -> HashMap<String, Value> {
    let (status, body) = app
        .get(&format!("/v1/lists/{list}/members?limit=500"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["next_cursor"], Value::Null);
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_owned(), m.clone()))
        .collect()
}

/// An account with `age` (number) and `city` (string) properties and a list holding three
/// members: a quoted name with properties, a plain one, and a pending one without a name.
async fn populated_list(app: &TestApp) -> (TestAccount, String) {
    let acct = app.create_account("Acme").await;
    for (name, kind) in [("city", "string"), ("age", "number")] {
        let (status, body) = app
            .post(
                "/v1/contact-properties",
                &acct.token,
                json!({"name": name, "type": kind}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let list = app.list(&acct.token, "News").await;
    let path = format!("/v1/lists/{list}/members");
    let members = [
        json!({"email": "jo@example.com", "name": "Doe, \"Jo\"", "properties": {"city": "London", "age": 36}}),
        json!({"email": "ada@example.com", "name": "Ada", "properties": {"city": "Paris"}}),
    ];
    for member in members {
        let (status, body) = app.post(&path, &acct.token, member).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, body) = app
        .patch(
            &format!("/v1/lists/{list}"),
            &acct.token,
            json!({"double_opt_in": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(&path, &acct.token, json!({"email": "pat@example.com"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "pending");
    (acct, list)
}

on_both_backends! {
    async fn a_csv_export_is_an_attachment_with_a_header_and_one_row_per_member(app) {
        let (acct, list) = populated_list(&app).await;
        let csv = export(&app, &acct.token, &list, "?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
        assert!(csv.content_type.starts_with("text/csv"), "{}", csv.content_type);
        assert!(csv.disposition.starts_with("attachment"), "{}", csv.disposition);
        assert!(csv.disposition.contains(&format!("list-{list}.csv")), "{}", csv.disposition);

        let records = parse_csv(&csv.text);
        assert_eq!(records[0], ["email", "name", "status", "subscribed_at", "age", "city"], "properties sorted by name");
        let rows = &records[1..];
        assert_eq!(rows.len(), 3, "{}", csv.text);
        assert!(rows.iter().all(|r| r.len() == 6), "{rows:?}");

        let members = members_by_email(&app, &acct.token, &list).await;
        let mut seen = HashSet::new();
        for row in rows {
            let member = &members[&row[0]];
            assert!(seen.insert(row[0].clone()), "{} exported twice", row[0]);
            assert_eq!(row[1], member["name"].as_str().unwrap_or(""));
            assert_eq!(row[2], member["status"].as_str().unwrap());
            match member["subscribed_at"].as_str() {
                Some(at) => assert_eq!(instant(&row[3]), instant(at)),
                None => assert_eq!(row[3], ""),
            }
        }
        let by_email: HashMap<&str, &Vec<String>> = rows.iter().map(|r| (r[0].as_str(), r)).collect();
        assert_eq!(by_email["jo@example.com"][1], "Doe, \"Jo\"");
        assert_eq!(by_email["jo@example.com"][4..], ["36", "London"]);
        assert_eq!(by_email["ada@example.com"][4..], ["", "Paris"]);
        assert_eq!(by_email["pat@example.com"][1..], ["", "pending", "", "", ""]);
    }

    async fn a_name_with_a_comma_and_quotes_is_quoted_in_the_csv(app) {
        let (acct, list) = populated_list(&app).await;
        let csv = export(&app, &acct.token, &list, "?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
        let line = csv.text.split("\r\n").find(|l| l.starts_with("jo@example.com,")).unwrap();
        assert!(line.starts_with(r#"jo@example.com,"Doe, ""Jo""",subscribed,"#), "{line}");
        assert!(line.ends_with(",36,London"), "{line}");
        assert!(csv.text.ends_with("\r\n"), "{:?}", csv.text);
    }

    async fn an_export_without_a_format_is_csv(app) {
        let (acct, list) = populated_list(&app).await;
        let default = export(&app, &acct.token, &list, "").await;
        assert_eq!(default.status, StatusCode::OK, "{}", default.text);
        assert!(default.content_type.starts_with("text/csv"), "{}", default.content_type);
        assert!(default.disposition.contains(".csv"), "{}", default.disposition);
        let explicit = export(&app, &acct.token, &list, "?format=csv").await;
        assert_eq!(default.text, explicit.text);
    }

    async fn an_ndjson_export_has_one_json_object_per_member(app) {
        let (acct, list) = populated_list(&app).await;
        let ndjson = export(&app, &acct.token, &list, "?format=ndjson").await;
        assert_eq!(ndjson.status, StatusCode::OK, "{}", ndjson.text);
        assert!(ndjson.content_type.starts_with("application/x-ndjson"), "{}", ndjson.content_type);
        assert!(ndjson.disposition.starts_with("attachment"), "{}", ndjson.disposition);
        assert!(ndjson.disposition.contains(&format!("list-{list}.ndjson")), "{}", ndjson.disposition);
        assert!(ndjson.text.ends_with('\n'));

        let members = members_by_email(&app, &acct.token, &list).await;
        let rows: Vec<Value> = ndjson.text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(rows.len(), members.len(), "{}", ndjson.text);
        let mut seen = HashSet::new();
        for row in &rows {
            let email = row["email"].as_str().unwrap();
            assert!(seen.insert(email.to_owned()), "{email} exported twice");
            let member = &members[email];
            for field in ["email", "name", "status", "subscribed_at", "properties"] {
                assert_eq!(row[field], member[field], "{field} of {email}");
            }
        }
        let jo = rows.iter().find(|r| r["email"] == "jo@example.com").unwrap();
        assert_eq!(jo["name"], "Doe, \"Jo\"");
        assert_eq!(jo["properties"], json!({"city": "London", "age": 36}));
        let pat = rows.iter().find(|r| r["email"] == "pat@example.com").unwrap();
        assert_eq!(pat["status"], "pending");
        assert_eq!(pat["subscribed_at"], Value::Null);
        assert_eq!(pat["name"], Value::Null);
        assert_eq!(pat["properties"], json!({}));
    }

    async fn values_a_spreadsheet_would_run_as_formulas_are_neutralised_in_csv_but_exact_in_ndjson(app) {
        let acct = app.create_account("Acme").await;
        for (name, kind) in [("city", "string"), ("balance", "number")] {
            let (status, body) = app.post("/v1/contact-properties", &acct.token, json!({"name": name, "type": kind})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let list = app.list(&acct.token, "News").await;
        let path = format!("/v1/lists/{list}/members");
        let members = [
            json!({"email": "=1+2@x.example", "name": "=HYPERLINK(\"http://evil.example\",\"click\")", "properties": {"city": "+33 Paris", "balance": -5}}),
            json!({"email": "ada@example.com", "name": "@SUM(A1:A9)", "properties": {"city": "-2+3"}}),
            json!({"email": "bob@example.com", "name": "Bob", "properties": {"city": "\t=1+2"}}),
            json!({"email": "cy@example.com", "name": "Cy", "properties": {"city": "a=b"}}),
        ];
        for member in &members {
            let (status, body) = app.post(&path, &acct.token, member.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }

        let csv = export(&app, &acct.token, &list, "?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
        let line = |email: &str| csv.text.split("\r\n").find(|l| l.starts_with(email)).unwrap_or_else(|| panic!("{email} in {}", csv.text)).to_owned();
        // A single quote before the value, and the field quoted: OWASP's CSV injection advice.
        assert!(line("\"'=1+2@x.example\"").starts_with(r#""'=1+2@x.example","'=HYPERLINK(""http://evil.example"",""click"")",subscribed,"#), "{}", csv.text);
        assert!(line("\"'=1+2@x.example\"").ends_with(r#",-5,"'+33 Paris""#), "a number stays a number: {}", csv.text);
        assert!(line("ada@example.com").starts_with(r#"ada@example.com,"'@SUM(A1:A9)",subscribed,"#), "{}", csv.text);
        assert!(line("ada@example.com").ends_with(r#","'-2+3""#), "{}", csv.text);
        assert!(line("bob@example.com").ends_with(",\"'\t=1+2\""), "{}", csv.text);
        assert!(line("cy@example.com").ends_with(",a=b"), "only a leading trigger counts: {}", csv.text);
        let records = parse_csv(&csv.text);
        assert!(records[1..].iter().flatten().all(|cell| !cell.starts_with(['=', '+', '-', '@', '\t', '\r']) || cell.parse::<f64>().is_ok()),
            "no cell a spreadsheet would run: {records:?}");

        let ndjson = export(&app, &acct.token, &list, "?format=ndjson").await;
        assert_eq!(ndjson.status, StatusCode::OK, "{}", ndjson.text);
        let rows: HashMap<String, Value> = ndjson.text.lines().map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            (row["email"].as_str().unwrap().to_owned(), row)
        }).collect();
        for member in &members {
            let row = &rows[member["email"].as_str().unwrap()];
            assert_eq!(row["name"], member["name"], "NDJSON is exact");
            assert_eq!(row["properties"], member["properties"], "NDJSON is exact");
        }
    }

    async fn an_empty_list_exports_only_the_csv_header_and_no_ndjson_lines(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "Empty").await;
        let csv = export(&app, &acct.token, &list, "?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
        assert_eq!(csv.text, "email,name,status,subscribed_at\r\n");
        let ndjson = export(&app, &acct.token, &list, "?format=ndjson").await;
        assert_eq!(ndjson.status, StatusCode::OK, "{}", ndjson.text);
        assert_eq!(ndjson.text, "");
    }

    async fn an_export_longer_than_one_batch_holds_every_member_once(app) {
        const MEMBERS: usize = 1205;
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "Big").await;
        let path = format!("/v1/lists/{list}/members");
        for i in 0..MEMBERS {
            let (status, body) = app.post(&path, &acct.token, json!({"email": format!("member{i:04}@example.com")})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        let expected: HashSet<String> = (0..MEMBERS).map(|i| format!("member{i:04}@example.com")).collect();

        let csv = export(&app, &acct.token, &list, "?format=csv").await;
        assert_eq!(csv.status, StatusCode::OK);
        let records = parse_csv(&csv.text);
        assert_eq!(records[0], ["email", "name", "status", "subscribed_at"]);
        let emails: Vec<String> = records[1..].iter().map(|r| r[0].clone()).collect();
        assert_eq!(emails.len(), MEMBERS, "one row per member");
        assert_eq!(emails.iter().cloned().collect::<HashSet<_>>(), expected, "every member, none twice");

        let ndjson = export(&app, &acct.token, &list, "?format=ndjson").await;
        assert_eq!(ndjson.status, StatusCode::OK);
        let emails: Vec<String> =
            ndjson.text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["email"].as_str().unwrap().to_owned()).collect();
        assert_eq!(emails.len(), MEMBERS);
        assert_eq!(emails.into_iter().collect::<HashSet<_>>(), expected);
    }

    async fn an_unknown_export_format_is_refused(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (status, body) = app.get(&format!("/v1/lists/{list}/export?format=xml"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }

    async fn an_unknown_export_format_is_reported_against_the_format_parameter(app) {
        let acct = app.create_account("Acme").await;
        let list = app.list(&acct.token, "News").await;
        let (status, body) = app.get(&format!("/v1/lists/{list}/export?format=xml"), &acct.token).await;
        assert_problem(status, &body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["errors"][0]["field"], "format", "{body}");
    }

    async fn exporting_an_unknown_list_is_not_found(app) {
        let acct = app.create_account("Acme").await;
        let (status, body) = app.get(&format!("/v1/lists/{}/export?format=csv", uuid::Uuid::now_v7()), &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = app.get("/v1/lists/not-an-id/export", &acct.token).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}
