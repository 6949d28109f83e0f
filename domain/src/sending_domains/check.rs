//! Checking a domain's records in DNS, as a receiver would see them: each record is
//! `verified` (published as asked), `missing` (nothing there) or `mismatch` (something
//! else there), with what was found. A fresh resolver per check, so that a record just
//! published is not hidden behind a cached answer.

use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};

use super::sending_domain::{DnsRecord, DomainStatus, RecordPurpose};
use crate::error::{Error, Result};

/// How long one lookup waits for an answer.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The resolvers to ask (`MAILROOM_DNS_SERVERS`); empty → the system's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsServers(pub Vec<SocketAddr>);

/// What a check found for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Not checked yet.
    Unchecked,
    /// Published as asked.
    Verified,
    /// Nothing of the kind at that name.
    Missing,
    /// Something else at that name (see `found`).
    Mismatch,
}

/// A record with what the last check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedRecord {
    #[serde(flatten)]
    pub record: DnsRecord,
    pub state: RecordState,
    /// The values found at the name (TXT texts, or a CNAME's target).
    pub found: Vec<String>,
    /// Why the lookup itself failed (a timeout, a server failure), if it did.
    pub error: Option<String>,
}

impl CheckedRecord {
    pub fn unchecked(record: DnsRecord) -> Self {
        CheckedRecord {
            record,
            state: RecordState::Unchecked,
            found: Vec::new(),
            error: None,
        }
    }
}

/// The outcome of one check of a domain.
#[derive(Debug, Clone)]
pub struct DomainCheck {
    pub records: Vec<CheckedRecord>,
    pub status: DomainStatus,
}

impl DomainCheck {
    /// The error of the first required record whose lookup itself failed (a timeout, a
    /// server failure) — the check then says nothing about what is published.
    pub fn lookup_failure(&self) -> Option<&str> {
        self.records
            .iter()
            .filter(|c| c.record.required)
            .find_map(|c| c.error.as_deref())
    }
}

/// What was found at one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordFinding {
    Found(Vec<String>),
    Nothing,
    Failed(String),
}

fn resolver(servers: &DnsServers) -> Result<TokioResolver> {
    let builder = if servers.0.is_empty() {
        Resolver::builder_tokio()
            .map_err(|e| Error::Config(format!("reading the system's DNS configuration: {e}")))?
    } else {
        let mut config = ResolverConfig::from_parts(None, vec![], vec![]);
        for server in &servers.0 {
            let mut ns = NameServerConfig::udp_and_tcp(server.ip());
            for connection in &mut ns.connections {
                connection.port = server.port();
            }
            config.add_name_server(ns);
        }
        Resolver::builder_with_config(config, TokioRuntimeProvider::default())
    };
    let mut builder = builder;
    // An unreachable server must not hold a request for long: one attempt per server, a
    // few seconds each (records are looked up one after another).
    builder.options_mut().timeout = LOOKUP_TIMEOUT;
    builder.options_mut().attempts = 1;
    builder
        .build()
        .map_err(|e| Error::Internal(format!("DNS resolver: {e}")))
}

async fn lookup(resolver: &TokioResolver, name: &str, record_type: RecordType) -> RecordFinding {
    match resolver.lookup(format!("{name}."), record_type).await {
        Ok(answer) => {
            let values: Vec<String> = answer
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) if record_type == RecordType::TXT => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>(),
                    ),
                    RData::CNAME(target) if record_type == RecordType::CNAME => Some(
                        target
                            .0
                            .to_ascii()
                            .trim_end_matches('.')
                            .to_ascii_lowercase(),
                    ),
                    _ => None,
                })
                .collect();
            if values.is_empty() {
                RecordFinding::Nothing
            } else {
                RecordFinding::Found(values)
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => RecordFinding::Nothing,
        Err(e) => RecordFinding::Failed(e.to_string()),
    }
}

/// The `p=` of a DKIM key record, without the spaces a long TXT value may be split by.
fn dkim_public_key(value: &str) -> Option<String> {
    value.split(';').find_map(|tag| {
        let (name, value) = tag.split_once('=')?;
        (name.trim() == "p").then(|| value.chars().filter(|c| !c.is_whitespace()).collect())
    })
}

/// Whether `found` satisfies `record`, given all values at its name.
fn judge(record: &DnsRecord, found: &[String]) -> RecordState {
    let starts = |v: &str, prefix: &str| {
        v.trim_start()
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let matched = match record.purpose {
        RecordPurpose::Ownership => found.iter().any(|v| v.trim() == record.value),
        RecordPurpose::Dkim | RecordPurpose::DkimNext | RecordPurpose::DkimPrevious => {
            let wanted = dkim_public_key(&record.value);
            found.iter().any(|v| dkim_public_key(v) == wanted)
        }
        RecordPurpose::Spf => {
            let include = record
                .value
                .split_whitespace()
                .find(|t| t.starts_with("include:"))
                .unwrap_or_default()
                .to_ascii_lowercase();
            let spf: Vec<&String> = found.iter().filter(|v| starts(v, "v=spf1")).collect();
            if spf.is_empty() {
                return RecordState::Missing;
            }
            spf.iter().any(|v| {
                v.split_whitespace().any(|t| {
                    t.trim_start_matches(['+', '~', '?'])
                        .eq_ignore_ascii_case(&include)
                })
            })
        }
        RecordPurpose::Dmarc => {
            let dmarc = found.iter().any(|v| starts(v, "v=DMARC1"));
            if !dmarc && found.is_empty() {
                return RecordState::Missing;
            }
            dmarc
        }
        RecordPurpose::ReturnPath => found
            .iter()
            .any(|v| v.eq_ignore_ascii_case(record.value.trim_end_matches('.'))),
    };
    if matched {
        RecordState::Verified
    } else if found.is_empty() {
        RecordState::Missing
    } else {
        RecordState::Mismatch
    }
}

/// Looks every record up and says what the domain's status is: `verified` when every
/// required record is, `failed` otherwise.
pub async fn check_domain(servers: &DnsServers, records: Vec<DnsRecord>) -> Result<DomainCheck> {
    let resolver = resolver(servers)?;
    let mut checked = Vec::with_capacity(records.len());
    for record in records {
        let record_type = if record.record_type == "CNAME" {
            RecordType::CNAME
        } else {
            RecordType::TXT
        };
        let (found, error) = match lookup(&resolver, &record.name, record_type).await {
            RecordFinding::Found(values) => (values, None),
            RecordFinding::Nothing => (Vec::new(), None),
            RecordFinding::Failed(e) => (Vec::new(), Some(e)),
        };
        let state = judge(&record, &found);
        checked.push(CheckedRecord {
            record,
            state,
            found,
            error,
        });
    }
    let verified = checked
        .iter()
        .filter(|c| c.record.required)
        .all(|c| c.state == RecordState::Verified);
    Ok(DomainCheck {
        records: checked,
        status: if verified {
            DomainStatus::Verified
        } else {
            DomainStatus::Failed
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(purpose: RecordPurpose, value: &str) -> DnsRecord {
        DnsRecord {
            purpose,
            record_type: "TXT".into(),
            name: "example.com".into(),
            value: value.into(),
            required: true,
        }
    }

    fn found(values: &[&str]) -> Vec<String> {
        values.iter().map(|v| (*v).to_owned()).collect()
    }

    #[test]
    fn only_a_required_records_failed_lookup_makes_the_check_inconclusive() {
        let checked = |required: bool, error: Option<&str>| CheckedRecord {
            record: DnsRecord {
                required,
                ..record(RecordPurpose::Dkim, "v=DKIM1; k=rsa; p=ABCDEF")
            },
            state: RecordState::Missing,
            found: Vec::new(),
            error: error.map(str::to_owned),
        };
        let check = |records| DomainCheck {
            records,
            status: DomainStatus::Failed,
        };
        assert_eq!(check(vec![checked(true, None)]).lookup_failure(), None);
        assert_eq!(
            check(vec![checked(false, Some("timed out"))]).lookup_failure(),
            None
        );
        assert_eq!(
            check(vec![checked(true, None), checked(true, Some("timed out"))]).lookup_failure(),
            Some("timed out")
        );
    }

    #[test]
    fn a_dkim_key_split_across_strings_or_reordered_still_matches() {
        let r = record(RecordPurpose::Dkim, "v=DKIM1; k=rsa; p=ABCDEF");
        assert_eq!(
            judge(&r, &found(&["k=rsa;v=DKIM1; p=ABC DEF"])),
            RecordState::Verified
        );
        assert_eq!(
            judge(&r, &found(&["v=DKIM1; k=rsa; p=OTHER"])),
            RecordState::Mismatch
        );
        assert_eq!(judge(&r, &found(&[])), RecordState::Missing);
    }

    #[test]
    fn spf_is_verified_by_its_include_among_other_mechanisms() {
        let r = record(RecordPurpose::Spf, "v=spf1 include:relay.example ~all");
        assert_eq!(
            judge(
                &r,
                &found(&[
                    "google-site-verification=x",
                    "v=spf1 mx include:relay.example -all"
                ])
            ),
            RecordState::Verified
        );
        assert_eq!(
            judge(&r, &found(&["v=spf1 mx -all"])),
            RecordState::Mismatch
        );
        assert_eq!(
            judge(&r, &found(&["google-site-verification=x"])),
            RecordState::Missing
        );
    }

    #[test]
    fn the_ownership_token_must_be_exact() {
        let r = record(RecordPurpose::Ownership, "mailroom-verification=abc");
        assert_eq!(
            judge(&r, &found(&["mailroom-verification=abc"])),
            RecordState::Verified
        );
        assert_eq!(
            judge(&r, &found(&["mailroom-verification=abd"])),
            RecordState::Mismatch
        );
    }
}
