//! Who a message says it is from, and the proof: a From on a domain the account verified
//! is signed with that domain's DKIM key; one on a domain it did not verify is refused
//! when a relay is configured, and noted in the sandbox. The double opt-in confirmation is
//! from the operator's own address (`MAILROOM_MAIL_FROM`) and is left to the relay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mailroom_domain::messages::{Message, MessageKind};
use mailroom_domain::rendering::BuiltMessage;
use mailroom_domain::sending_domains::{
    DomainSigner, SenderCheck, SenderPolicy, SendingDomain, domain_of_address,
};
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Error, Result};

use crate::context::WorkerContext;

/// The header the sandbox keeps on a message a relay would have refused.
pub const SANDBOX_NOTE_HEADER: &str = "X-Mailroom-Sandbox-Note";

/// Signers made once per domain key: opening the sealed key and parsing it costs more than
/// a signature. Keyed by the domain and its selector, so a new key is a new entry.
#[derive(Default)]
pub struct SignerCache {
    signers: Mutex<HashMap<(mailroom_domain::Id, String), Arc<DomainSigner>>>,
}

impl SignerCache {
    fn signer_for(&self, domain: &SendingDomain, ctx: &WorkerContext) -> Result<Arc<DomainSigner>> {
        let key = (domain.id, domain.dkim_selector.clone());
        if let Some(signer) = self.signers.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(signer);
        }
        let signer = Arc::new(domain.signer(&ctx.secret_box)?);
        if let Ok(mut signers) = self.signers.lock() {
            signers.insert(key, signer.clone());
        }
        Ok(signer)
    }
}

/// A verified domain's defaults for mail that names no sender or Reply-To.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
}

/// What the sender's identity does to a message.
pub enum Identity {
    /// Signed with the domain's key; the domain's defaults (sender name, Reply-To) fill
    /// what the message leaves out.
    Sign(Arc<DomainSigner>, Defaults),
    /// Sent as it is (enforcement off, or Mailroom's own address).
    AsIs,
    /// Kept in the sandbox with a note that a relay would have refused it.
    SandboxNote(String),
}

/// The identity of `message` from `from_email`; `Err(reason)` when it must not be sent.
pub fn identity(
    conn: &mut DbConnection,
    ctx: &WorkerContext,
    message: &Message,
    from_email: &str,
) -> Result<Result<Identity, String>> {
    if message.kind() == MessageKind::Confirmation {
        return Ok(Ok(Identity::AsIs));
    }
    let policy = SenderPolicy::of(&ctx.settings);
    match policy.check(conn, message.account_id, "from_email", from_email) {
        Ok(SenderCheck::Verified(domain)) => {
            let defaults = Defaults {
                from_name: domain.default_from_name.clone(),
                reply_to: domain.default_reply_to.clone(),
            };
            Ok(Ok(Identity::Sign(
                ctx.dkim_signers.signer_for(&domain, ctx)?,
                defaults,
            )))
        }
        Ok(SenderCheck::Unverified { would_refuse: true }) => {
            Ok(Ok(Identity::SandboxNote(format!(
                "a relay would refuse this message: {} is not a verified sending domain of the account",
                domain_of_address(from_email).unwrap_or_else(|| from_email.to_owned())
            ))))
        }
        Ok(SenderCheck::Unverified { .. }) => Ok(Ok(Identity::AsIs)),
        Err(Error::SenderDomainUnverified { domain, .. }) => Ok(Err(format!(
            "the From domain {domain} is not a verified sending domain of the account"
        ))),
        Err(e) => Err(e),
    }
}

/// Puts a header field on top of a built message (and in its displayed headers).
fn prepend(built: &mut BuiltMessage, name: &str, value: &str, line: &str) {
    let mut raw = Vec::with_capacity(line.len() + built.raw.len());
    raw.extend_from_slice(line.as_bytes());
    raw.extend_from_slice(&built.raw);
    built.raw = raw;
    built.headers.insert(0, (name.to_owned(), value.to_owned()));
}

impl Identity {
    /// The domain's defaults, where it has any.
    pub fn defaults(&self) -> Option<&Defaults> {
        match self {
            Identity::Sign(_, defaults) => Some(defaults),
            _ => None,
        }
    }

    /// Signs or notes the built message.
    pub fn apply(&self, built: &mut BuiltMessage) -> Result<()> {
        match self {
            Identity::Sign(signer, _) => {
                let header = signer.signature_header(&built.raw)?;
                let value = header
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_owned())
                    .unwrap_or_default();
                prepend(built, "DKIM-Signature", &value, &header);
            }
            Identity::SandboxNote(note) => {
                let line = format!("{SANDBOX_NOTE_HEADER}: {note}\r\n");
                prepend(built, SANDBOX_NOTE_HEADER, note, &line);
            }
            Identity::AsIs => {}
        }
        Ok(())
    }
}
