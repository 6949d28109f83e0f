//! An account's sending domains: the domain, its DKIM key pair (the private half sealed),
//! the ownership token, and what the last DNS check found.
//!
//! A domain is `pending` until checked, `verified` while its ownership token and DKIM key
//! are published as asked, and `failed` when a check finds either missing or different.
//! The SPF, DMARC and return-path records are checked and reported too, but they are the
//! owner's policy, not proof of ownership: they do not decide the status.

use std::fmt;

use base64::Engine;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::check::{CheckedRecord, DomainCheck};
use super::dkim::{DkimAlgorithm, DkimKeyPair, DomainSigner};
use super::name::parse_domain;
use crate::clock;
use crate::config::SendingDomainSettings;
use crate::error::{Error, Result};
use crate::pagination::{Page, PageRequest};
use crate::schema::sending_domains;
use crate::store::DbConnection;
use crate::store::sql_types::{Id, Json, Timestamp};
use crate::webhooks::SecretBox;

/// Where a domain stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    /// Not checked yet: publish the records, then verify.
    Pending,
    /// The ownership token and the DKIM key are published: mail from it is signed and sent.
    Verified,
    /// The last check did not find them (see each record's `state`).
    Failed,
}

impl DomainStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainStatus::Pending => "pending",
            DomainStatus::Verified => "verified",
            DomainStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DomainStatus::Pending),
            "verified" => Some(DomainStatus::Verified),
            "failed" => Some(DomainStatus::Failed),
            _ => None,
        }
    }
}

/// What a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordPurpose {
    /// Proves the account controls the domain's DNS.
    Ownership,
    /// The public key receivers check Mailroom's signatures with.
    Dkim,
    /// After a rotation: the new key. Publish it beside the current one; Mailroom signs
    /// with it from the first check that finds it.
    DkimNext,
    /// The key a rotation replaced, no longer signing: keep it published a few days, so
    /// that mail signed with it still verifies, then remove it.
    DkimPrevious,
    /// Lets the relay send for the domain (advice: merge it into an existing SPF record).
    Spf,
    /// A DMARC policy (a suggestion to start from: monitor, then tighten).
    Dmarc,
    /// Points the domain's bounce subdomain at the operator's return-path domain, so that
    /// SPF aligns with the From domain too.
    ReturnPath,
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DnsRecord {
    pub purpose: RecordPurpose,
    /// `TXT` or `CNAME`.
    #[serde(rename = "type")]
    pub record_type: String,
    /// The fully qualified name (without the trailing dot).
    pub name: String,
    /// The value to publish (for TXT: the text, without quotes).
    pub value: String,
    /// Whether the domain's verification needs this record.
    pub required: bool,
}

/// A sending domain of one account. `Debug` never prints the private key.
#[derive(Clone, Queryable, Selectable, Insertable, Identifiable)]
#[diesel(table_name = sending_domains)]
pub struct SendingDomain {
    pub id: Id,
    pub account_id: Id,
    pub domain: String,
    pub status: String,
    pub ownership_token: String,
    pub dkim_selector: String,
    pub dkim_algorithm: String,
    /// Base64, as DKIM's `p=` carries it.
    pub dkim_public_key: String,
    /// The PKCS#8 key, base64, sealed with the installation's secret box.
    pub dkim_private_key: String,
    /// A rotation's new key, until a check finds it published.
    pub next_dkim_selector: Option<String>,
    pub next_dkim_algorithm: Option<String>,
    pub next_dkim_public_key: Option<String>,
    /// Sealed, as `dkim_private_key`.
    pub next_dkim_private_key: Option<String>,
    /// The key the last rotation replaced (its private half is erased at the switch).
    pub previous_dkim_selector: Option<String>,
    pub previous_dkim_algorithm: Option<String>,
    pub previous_dkim_public_key: Option<String>,
    /// The sender name of mail from the domain that names none.
    pub default_from_name: Option<String>,
    /// The Reply-To of mail from the domain that sets none.
    pub default_reply_to: Option<String>,
    /// What the last check found, record by record.
    pub last_check: Option<Json>,
    pub checked_at: Option<Timestamp>,
    pub verified_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl fmt::Debug for SendingDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendingDomain")
            .field("id", &self.id)
            .field("account_id", &self.account_id)
            .field("domain", &self.domain)
            .field("status", &self.status)
            .field("dkim_selector", &self.dkim_selector)
            .finish_non_exhaustive()
    }
}

/// A domain as the account asked for it.
#[derive(Debug, Clone)]
pub struct NewSendingDomain {
    pub domain: String,
    pub dkim_algorithm: DkimAlgorithm,
}

/// The label of the return-path CNAME under the sending domain.
const RETURN_PATH_LABEL: &str = "bounces";

fn random_token(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn new_selector() -> String {
    let suffix: u32 = rand::random();
    format!("mailroom{:06x}", suffix & 0x00ff_ffff)
}

impl SendingDomain {
    pub fn status(&self) -> Result<DomainStatus> {
        DomainStatus::parse(&self.status).ok_or_else(|| {
            Error::Internal(format!(
                "sending domain {} has an unknown status {:?}",
                self.id, self.status
            ))
        })
    }

    pub fn algorithm(&self) -> Result<DkimAlgorithm> {
        DkimAlgorithm::parse(&self.dkim_algorithm).ok_or_else(|| {
            Error::Internal(format!(
                "sending domain {} has an unknown key type {:?}",
                self.id, self.dkim_algorithm
            ))
        })
    }

    /// The records the owner is to publish.
    pub fn records(&self, settings: &SendingDomainSettings) -> Vec<DnsRecord> {
        let txt = |purpose, name: String, value: String, required| DnsRecord {
            purpose,
            record_type: "TXT".into(),
            name,
            value,
            required,
        };
        let algorithm = self.algorithm().unwrap_or(DkimAlgorithm::Rsa);
        let mut records = vec![
            txt(
                RecordPurpose::Ownership,
                format!("_mailroom.{}", self.domain),
                format!("mailroom-verification={}", self.ownership_token),
                true,
            ),
            txt(
                RecordPurpose::Dkim,
                format!("{}._domainkey.{}", self.dkim_selector, self.domain),
                algorithm.key_record(&self.dkim_public_key),
                true,
            ),
            txt(
                RecordPurpose::Spf,
                self.domain.clone(),
                format!("v=spf1 include:{} ~all", settings.spf_include),
                false,
            ),
            txt(
                RecordPurpose::Dmarc,
                format!("_dmarc.{}", self.domain),
                "v=DMARC1; p=none; adkim=r; aspf=r".into(),
                false,
            ),
        ];
        let other_key = |purpose,
                         selector: &Option<String>,
                         algorithm: &Option<String>,
                         key: &Option<String>| {
            let (Some(selector), Some(key)) = (selector, key) else {
                return None;
            };
            let algorithm = algorithm
                .as_deref()
                .and_then(DkimAlgorithm::parse)
                .unwrap_or(DkimAlgorithm::Rsa);
            Some(txt(
                purpose,
                format!("{selector}._domainkey.{}", self.domain),
                algorithm.key_record(key),
                false,
            ))
        };
        records.extend(other_key(
            RecordPurpose::DkimNext,
            &self.next_dkim_selector,
            &self.next_dkim_algorithm,
            &self.next_dkim_public_key,
        ));
        records.extend(other_key(
            RecordPurpose::DkimPrevious,
            &self.previous_dkim_selector,
            &self.previous_dkim_algorithm,
            &self.previous_dkim_public_key,
        ));
        if let Some(target) = &settings.return_path_domain {
            records.push(DnsRecord {
                purpose: RecordPurpose::ReturnPath,
                record_type: "CNAME".into(),
                name: format!("{RETURN_PATH_LABEL}.{}", self.domain),
                value: target.clone(),
                required: false,
            });
        }
        records
    }

    /// The records with what the last check found (`unchecked` before the first check).
    pub fn checked_records(&self, settings: &SendingDomainSettings) -> Vec<CheckedRecord> {
        let found: Vec<CheckedRecord> = self
            .last_check
            .as_ref()
            .and_then(|json| serde_json::from_value(json.0.clone()).ok())
            .unwrap_or_default();
        self.records(settings)
            .into_iter()
            .map(|record| {
                found
                    .iter()
                    .find(|c| c.record == record)
                    .cloned()
                    .unwrap_or_else(|| CheckedRecord::unchecked(record))
            })
            .collect()
    }

    /// A signer with the domain's key.
    pub fn signer(&self, sealer: &SecretBox) -> Result<DomainSigner> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(sealer.open(&self.dkim_private_key)?)
            .map_err(|_| Error::Internal(format!("sending domain {} key unreadable", self.id)))?;
        DomainSigner::new(&self.domain, &self.dkim_selector, self.algorithm()?, &der)
    }

    pub fn create(
        conn: &mut DbConnection,
        account_id: Id,
        new: NewSendingDomain,
        sealer: &SecretBox,
    ) -> Result<SendingDomain> {
        let domain = parse_domain("domain", &new.domain)?;
        let taken = sending_domains::table
            .filter(sending_domains::account_id.eq(account_id))
            .filter(sending_domains::domain.eq(&domain))
            .count()
            .get_result::<i64>(conn)?;
        if taken > 0 {
            return Err(Error::Conflict(format!(
                "{domain} is already a sending domain of this account"
            )));
        }
        let pair = DkimKeyPair::generate(new.dkim_algorithm)?;
        let now = clock::now();
        let row = SendingDomain {
            id: Id::new(),
            account_id,
            domain,
            status: DomainStatus::Pending.as_str().into(),
            ownership_token: random_token(24),
            dkim_selector: new_selector(),
            dkim_algorithm: new.dkim_algorithm.as_str().into(),
            dkim_public_key: pair.public_key_b64.clone(),
            dkim_private_key: sealer
                .seal(&base64::engine::general_purpose::STANDARD.encode(&pair.private_pkcs8)),
            next_dkim_selector: None,
            next_dkim_algorithm: None,
            next_dkim_public_key: None,
            next_dkim_private_key: None,
            previous_dkim_selector: None,
            previous_dkim_algorithm: None,
            previous_dkim_public_key: None,
            default_from_name: None,
            default_reply_to: None,
            last_check: None,
            checked_at: None,
            verified_at: None,
            created_at: now,
            updated_at: now,
        };
        diesel::insert_into(sending_domains::table)
            .values(&row)
            .execute(conn)?;
        Ok(row)
    }

    /// The domain, if it is the account's.
    pub fn find(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<SendingDomain> {
        sending_domains::table
            .find(id)
            .filter(sending_domains::account_id.eq(account_id))
            .select(SendingDomain::as_select())
            .first(conn)
            .optional()?
            .ok_or(Error::NotFound("sending domain"))
    }

    /// The account's domains, oldest first.
    pub fn list(conn: &mut DbConnection, account_id: Id, page: &PageRequest) -> Result<Page<Self>> {
        let mut query = sending_domains::table
            .filter(sending_domains::account_id.eq(account_id))
            .select(SendingDomain::as_select())
            .order(sending_domains::id.asc())
            .limit(page.fetch_limit())
            .into_boxed();
        if let Some(after) = page.after {
            query = query.filter(sending_domains::id.gt(after));
        }
        Ok(Page::from_rows(query.load(conn)?, page, |d| d.id))
    }

    /// The account's verified domains.
    pub fn verified_of(conn: &mut DbConnection, account_id: Id) -> Result<Vec<SendingDomain>> {
        Ok(sending_domains::table
            .filter(sending_domains::account_id.eq(account_id))
            .filter(sending_domains::status.eq(DomainStatus::Verified.as_str()))
            .select(SendingDomain::as_select())
            .order(sending_domains::id.asc())
            .load(conn)?)
    }

    /// Deletes the domain and its key: mail from it is refused (or unsigned, where the
    /// operator turned enforcement off) from now on.
    pub fn delete(conn: &mut DbConnection, account_id: Id, id: Id) -> Result<()> {
        let n = diesel::delete(
            sending_domains::table
                .find(id)
                .filter(sending_domains::account_id.eq(account_id)),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(Error::NotFound("sending domain"));
        }
        Ok(())
    }

    /// Makes a new key pair to replace the current one: it is published beside it and
    /// signs from the first check that finds it. A rotation not yet finished is replaced.
    pub fn rotate_dkim(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        algorithm: Option<DkimAlgorithm>,
        sealer: &SecretBox,
    ) -> Result<SendingDomain> {
        let mut domain = Self::find(conn, account_id, id)?;
        let algorithm = match algorithm {
            Some(a) => a,
            None => domain.algorithm()?,
        };
        let pair = DkimKeyPair::generate(algorithm)?;
        let mut selector = new_selector();
        while selector == domain.dkim_selector {
            selector = new_selector();
        }
        domain.next_dkim_selector = Some(selector);
        domain.next_dkim_algorithm = Some(algorithm.as_str().into());
        domain.next_dkim_public_key = Some(pair.public_key_b64.clone());
        domain.next_dkim_private_key = Some(
            sealer.seal(&base64::engine::general_purpose::STANDARD.encode(&pair.private_pkcs8)),
        );
        domain.updated_at = clock::now();
        diesel::update(sending_domains::table.find(id))
            .set((
                sending_domains::next_dkim_selector.eq(&domain.next_dkim_selector),
                sending_domains::next_dkim_algorithm.eq(&domain.next_dkim_algorithm),
                sending_domains::next_dkim_public_key.eq(&domain.next_dkim_public_key),
                sending_domains::next_dkim_private_key.eq(&domain.next_dkim_private_key),
                sending_domains::updated_at.eq(domain.updated_at),
            ))
            .execute(conn)?;
        Ok(domain)
    }

    /// The next key becomes the signing key; the current one is kept as `previous`, its
    /// private half erased.
    fn switch_to_next_key(&mut self, conn: &mut DbConnection) -> Result<()> {
        let (Some(selector), Some(algorithm), Some(public), Some(private)) = (
            self.next_dkim_selector.take(),
            self.next_dkim_algorithm.take(),
            self.next_dkim_public_key.take(),
            self.next_dkim_private_key.take(),
        ) else {
            return Ok(());
        };
        self.previous_dkim_selector = Some(std::mem::replace(&mut self.dkim_selector, selector));
        self.previous_dkim_algorithm = Some(std::mem::replace(&mut self.dkim_algorithm, algorithm));
        self.previous_dkim_public_key = Some(std::mem::replace(&mut self.dkim_public_key, public));
        self.dkim_private_key = private;
        diesel::update(sending_domains::table.find(self.id))
            .set((
                sending_domains::dkim_selector.eq(&self.dkim_selector),
                sending_domains::dkim_algorithm.eq(&self.dkim_algorithm),
                sending_domains::dkim_public_key.eq(&self.dkim_public_key),
                sending_domains::dkim_private_key.eq(&self.dkim_private_key),
                sending_domains::next_dkim_selector.eq(None::<String>),
                sending_domains::next_dkim_algorithm.eq(None::<String>),
                sending_domains::next_dkim_public_key.eq(None::<String>),
                sending_domains::next_dkim_private_key.eq(None::<String>),
                sending_domains::previous_dkim_selector.eq(&self.previous_dkim_selector),
                sending_domains::previous_dkim_algorithm.eq(&self.previous_dkim_algorithm),
                sending_domains::previous_dkim_public_key.eq(&self.previous_dkim_public_key),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Sets the defaults of mail from the domain (`Some(None)` clears one).
    pub fn set_defaults(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        from_name: Option<Option<String>>,
        reply_to: Option<Option<String>>,
    ) -> Result<SendingDomain> {
        let mut domain = Self::find(conn, account_id, id)?;
        let mut errors = Vec::new();
        if let Some(name) = from_name {
            let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
            if name
                .as_ref()
                .is_some_and(|n| n.chars().count() > 200 || n.chars().any(char::is_control))
            {
                errors.push(crate::error::FieldError::new(
                    "default_from_name",
                    "must be one line of at most 200 characters",
                ));
            }
            domain.default_from_name = name;
        }
        if let Some(reply_to) = reply_to {
            domain.default_reply_to = match reply_to
                .map(|r| crate::contacts::EmailAddress::parse(&r))
                .transpose()
            {
                Ok(r) => r.map(|r| r.into_inner()),
                Err(e) => {
                    errors.push(crate::error::FieldError::new(
                        "default_reply_to",
                        e.to_string(),
                    ));
                    None
                }
            };
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        domain.updated_at = clock::now();
        diesel::update(sending_domains::table.find(id))
            .set((
                sending_domains::default_from_name.eq(&domain.default_from_name),
                sending_domains::default_reply_to.eq(&domain.default_reply_to),
                sending_domains::updated_at.eq(domain.updated_at),
            ))
            .execute(conn)?;
        Ok(domain)
    }

    /// Stores what a check found and the status it gives.
    pub fn record_check(
        conn: &mut DbConnection,
        account_id: Id,
        id: Id,
        check: &DomainCheck,
    ) -> Result<SendingDomain> {
        let mut domain = Self::find(conn, account_id, id)?;
        let now = clock::now();
        let was_verified = domain.status()? == DomainStatus::Verified;
        let next_published = check.records.iter().any(|c| {
            c.record.purpose == RecordPurpose::DkimNext
                && c.state == super::check::RecordState::Verified
                && domain
                    .next_dkim_selector
                    .as_ref()
                    .is_some_and(|s| c.record.name.starts_with(&format!("{s}._domainkey.")))
        });
        let mut records = check.records.clone();
        if next_published {
            domain.switch_to_next_key(conn)?;
            // What was found stays what was found; only the keys' roles changed.
            for c in &mut records {
                match c.record.purpose {
                    RecordPurpose::DkimNext => {
                        c.record.purpose = RecordPurpose::Dkim;
                        c.record.required = true;
                    }
                    RecordPurpose::Dkim => {
                        c.record.purpose = RecordPurpose::DkimPrevious;
                        c.record.required = false;
                    }
                    _ => {}
                }
            }
            records.retain(|c| {
                c.record.purpose != RecordPurpose::DkimPrevious
                    || domain
                        .previous_dkim_selector
                        .as_ref()
                        .is_some_and(|s| c.record.name.starts_with(&format!("{s}._domainkey.")))
            });
        }
        let status = if records
            .iter()
            .filter(|c| c.record.required)
            .all(|c| c.state == super::check::RecordState::Verified)
        {
            DomainStatus::Verified
        } else {
            DomainStatus::Failed
        };
        domain.status = status.as_str().into();
        domain.last_check = Some(Json(
            serde_json::to_value(&records).map_err(|e| Error::Internal(e.to_string()))?,
        ));
        domain.checked_at = Some(now);
        if status == DomainStatus::Verified && !was_verified {
            domain.verified_at = Some(now);
        }
        domain.updated_at = now;
        diesel::update(sending_domains::table.find(id))
            .set((
                sending_domains::status.eq(&domain.status),
                sending_domains::last_check.eq(&domain.last_check),
                sending_domains::checked_at.eq(domain.checked_at),
                sending_domains::verified_at.eq(domain.verified_at),
                sending_domains::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(domain)
    }
}
