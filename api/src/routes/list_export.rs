//! List export: every member as CSV or NDJSON, streamed in batches so that memory stays
//! flat however long the list is.
//!
//! A CSV export is opened in spreadsheets, which run a cell that starts with `=`, `+`, `-`
//! or `@` as a formula (`=HYPERLINK(…)`, `=cmd|…`): a contact's name, property or even
//! address could do that in the account's own spreadsheet. Such text values are written as
//! OWASP recommends against CSV injection: a single quote before them, and the field
//! quoted. NDJSON is read by programs, not spreadsheets, and stays exact.

use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use mailroom_domain::Id;
use mailroom_domain::accounts::Scope;
use mailroom_domain::audit::AuditRecord;
use mailroom_domain::contacts::PropertyDefinition;
use mailroom_domain::lists::{MailingList, Member};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::extract::ApiQuery;
use crate::problem::ApiError;
use crate::state::AppState;

/// Members fetched per round trip (and per chunk written).
const BATCH: i64 = 1000;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// A header row, then one row per member: email, name, status, subscribed_at and one
    /// column per contact property.
    #[default]
    Csv,
    /// One JSON object per line: email, name, status, subscribed_at, properties.
    Ndjson,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (default) or `ndjson`.
    pub format: Option<ExportFormat>,
}

/// Exports every member of a list.
#[utoipa::path(
    tag = "lists",
    params(("id" = Id, Path, description = "The list"), ExportQuery),
    responses((
        status = 200,
        description = "The members, streamed",
        content((String = "text/csv"), (String = "application/x-ndjson"))
    ))
)]
#[get("/lists/{id}/export")]
pub async fn export_list(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    query: ApiQuery<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::ListsRead)?;
    principal.require(Scope::ContactsRead)?;
    let format = query.format.unwrap_or_default();
    let (account, list_id) = (principal.account_id, id.into_inner());
    let columns: Vec<String> = state
        .db_audited(
            &principal,
            move |_: &Vec<String>| {
                AuditRecord::new("list.exported", "list", Some(list_id))
                    .with_details(serde_json::json!({ "format": match format { ExportFormat::Csv => "csv", ExportFormat::Ndjson => "ndjson" } }))
            },
            move |conn| {
                MailingList::find(conn, account, list_id)?;
                Ok(PropertyDefinition::list(conn, account)?
                    .into_iter()
                    .map(|d| d.name)
                    .collect())
            },
        )
        .await?;
    tracing::info!(%list_id, ?format, "list export started");

    let header = match format {
        ExportFormat::Csv => Some(Bytes::from(csv_header(&columns))),
        ExportFormat::Ndjson => None,
    };
    let start = ExportState {
        after: None,
        finished: false,
        header,
    };
    let stream = futures_util::stream::unfold(start, move |mut export| {
        let state = state.clone();
        let columns = columns.clone();
        async move {
            if let Some(header) = export.header.take() {
                return Some((Ok(header), export));
            }
            if export.finished {
                return None;
            }
            let after = export.after;
            let batch = state
                .db(move |conn| Member::batch(conn, account, list_id, None, after, BATCH))
                .await;
            let members = match batch {
                Ok(members) => members,
                Err(e) => {
                    tracing::error!(error = %e, %list_id, "list export aborted");
                    export.finished = true;
                    return Some((Err(actix_web::Error::from(e)), export));
                }
            };
            if members.is_empty() {
                return None;
            }
            export.finished = (members.len() as i64) < BATCH;
            export.after = members.last().map(|m| m.contact.id);
            let mut chunk = String::with_capacity(members.len() * 128);
            for member in &members {
                match format {
                    ExportFormat::Csv => write_csv_row(&mut chunk, member, &columns),
                    ExportFormat::Ndjson => write_ndjson_row(&mut chunk, member),
                }
            }
            Some((Ok::<_, actix_web::Error>(Bytes::from(chunk)), export))
        }
    });

    let (content_type, extension) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(format!(
                "list-{list_id}.{extension}"
            ))],
        })
        .streaming(stream))
}

struct ExportState {
    after: Option<Id>,
    finished: bool,
    header: Option<Bytes>,
}

fn csv_header(columns: &[String]) -> String {
    let mut line = String::from("email,name,status,subscribed_at");
    for column in columns {
        line.push(',');
        push_csv_text(&mut line, column);
    }
    line.push_str("\r\n");
    line
}

fn write_csv_row(out: &mut String, member: &Member, columns: &[String]) {
    push_csv_text(out, &member.contact.email);
    out.push(',');
    push_csv_text(out, member.contact.name.as_deref().unwrap_or(""));
    out.push(',');
    out.push_str(member.status().as_str());
    out.push(',');
    if let Some(at) = member.membership.subscribed_at {
        out.push_str(&at.to_string());
    }
    let properties = member.contact.properties_map();
    for column in columns {
        out.push(',');
        match properties.get(column) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => push_csv_text(out, s),
            // A number (`-5`) or a boolean is data, never a formula.
            Some(number @ (Value::Number(_) | Value::Bool(_))) => {
                push_csv_field(out, &number.to_string())
            }
            Some(other) => push_csv_text(out, &other.to_string()),
        }
    }
    out.push_str("\r\n");
}

/// Leading characters that make a spreadsheet read a cell as a formula (OWASP's list).
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A text field someone other than Mailroom wrote: a value a spreadsheet would run as a
/// formula gets a single quote before it and is quoted; any other as [`push_csv_field`].
fn push_csv_text(out: &mut String, value: &str) {
    if value.starts_with(FORMULA_TRIGGERS) {
        out.push_str("\"'");
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        push_csv_field(out, value);
    }
}

/// RFC 4180: quote a field holding a comma, quote or line break; double inner quotes.
fn push_csv_field(out: &mut String, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

fn write_ndjson_row(out: &mut String, member: &Member) {
    let row = serde_json::json!({
        "contact_id": member.contact.id,
        "email": member.contact.email,
        "name": member.contact.name,
        "status": member.status(),
        "subscribed_at": member.membership.subscribed_at,
        "properties": member.contact.properties.0,
    });
    out.push_str(&row.to_string());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        let mut out = String::new();
        push_csv_field(&mut out, "plain");
        out.push(',');
        push_csv_field(&mut out, "Doe, \"Jo\"");
        assert_eq!(out, "plain,\"Doe, \"\"Jo\"\"\"");
    }

    #[test]
    fn text_that_a_spreadsheet_would_run_is_neutralised() {
        for (value, written) in [
            ("=1+2@x.example", "\"'=1+2@x.example\""),
            ("+33 1 23", "\"'+33 1 23\""),
            ("-2+3", "\"'-2+3\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\tx", "\"'\tx\""),
            ("\r=x", "\"'\r=x\""),
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            let mut out = String::new();
            push_csv_text(&mut out, value);
            assert_eq!(out, written, "{value:?}");
        }
    }
}
