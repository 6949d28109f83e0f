//! Composing a message: its content by kind (campaign, test, transactional, double opt-in
//! confirmation), rendered for its recipient and built into MIME with Mailroom's headers.

use mailroom_domain::accounts::Account;
use mailroom_domain::campaigns::{Campaign, audience};
use mailroom_domain::config::Settings;
use mailroom_domain::consent::{ConsentRecord, purposes};
use mailroom_domain::contacts::{Contact, EmailAddress};
use mailroom_domain::lists::MailingList;
use mailroom_domain::messages::{Message, MessageKind};
use mailroom_domain::rendering::{
    self, Address, BuiltMessage, CampaignVars, ContactVars, ListUnsubscribe, ListVars, MimeInput,
    RenderContext, Rendered, TemplateSource,
};
use mailroom_domain::store::DbConnection;
use mailroom_domain::suppressions::Suppression;
use mailroom_domain::tokens::PublicToken;
use mailroom_domain::tracking;
use mailroom_domain::{Error, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::dispatch::MARKETING;
use crate::context::WorkerContext;

/// A message ready for the relay.
pub struct Composed {
    pub built: BuiltMessage,
    pub rendered: Rendered,
    /// It carries an open pixel and tracked links.
    pub tracked: bool,
}

/// Why a message is not sent after all.
pub enum Verdict {
    Send(Box<Composed>),
    /// Not eligible any more (suppressed, unsubscribed, consent withdrawn, contact gone).
    Skip(String),
    /// It cannot be built (a template that fails for this recipient).
    Fail(String),
}

/// Content of a test message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestPayload {
    pub campaign_id: mailroom_domain::Id,
}

/// Content of a transactional message, as `POST /v1/send` received it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TransactionalPayload {
    pub from_email: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
    #[serde(default)]
    pub variables: Map<String, Value>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

pub fn unsubscribe_url(settings: &Settings, ctx: &WorkerContext, message: &Message) -> String {
    let token = ctx.signer.sign(&PublicToken::Unsubscribe {
        message_id: message.id,
    });
    format!("{}/u/{token}", settings.public_url)
}

pub fn confirm_url(settings: &Settings, ctx: &WorkerContext, message: &Message) -> Option<String> {
    let expires_at = Timestamp::from(
        chrono::Utc::now()
            + chrono::Duration::from_std(settings.delivery.confirm_ttl)
                .unwrap_or(chrono::Duration::days(7)),
    );
    let token = ctx.signer.sign(&PublicToken::Confirm {
        list_id: message.list_id?,
        contact_id: message.contact_id?,
        expires_at,
    });
    Some(format!("{}/confirm/{token}", settings.public_url))
}

/// The message's contact: the one it was sent to, or else the account's contact with its
/// address (transactional mail), if there is one.
fn recipient_contact(
    conn: &mut DbConnection,
    message: &Message,
    recipient: &EmailAddress,
) -> mailroom_domain::Result<Option<Contact>> {
    match message.contact_id {
        Some(id) => match Contact::find(conn, message.account_id, id) {
            Ok(contact) => Ok(Some(contact)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        },
        None => Contact::find_by_email(conn, message.account_id, recipient),
    }
}

fn contact_vars(message: &Message, contact: Option<&Contact>) -> ContactVars {
    match contact {
        Some(c) => ContactVars {
            properties: c.properties_map(),
            email: c.email.clone(),
            name: c.name.clone(),
        },
        None => ContactVars {
            email: message.to_email.clone(),
            name: message.to_name.clone(),
            properties: Map::new(),
        },
    }
}

/// Decides whether the message still goes out and, if so, builds it.
/// `campaign` is the message's campaign when the caller already read it; `account` is the
/// message's account.
pub fn compose(
    conn: &mut DbConnection,
    ctx: &WorkerContext,
    message: &Message,
    campaign: Option<Campaign>,
    account: &Account,
) -> mailroom_domain::Result<Verdict> {
    let preloaded = campaign;
    let settings = &ctx.settings;
    let Ok(recipient) = EmailAddress::parse(&message.to_email) else {
        return Ok(Verdict::Fail("the recipient address is not valid".into()));
    };
    if let Some(reason) =
        Suppression::is_suppressed(conn, message.account_id, &ctx.hash_key, &recipient)?
    {
        return Ok(Verdict::Skip(format!("suppressed ({})", reason.as_str())));
    }
    // Processing restricted (a data-subject request): neither mailed nor tracked.
    let contact = recipient_contact(conn, message, &recipient)?;
    if contact.as_ref().is_some_and(|c| c.restricted_at.is_some()) {
        return Ok(Verdict::Skip("processing restricted".into()));
    }
    let kind = message.kind();
    let (template, from, reply_to, list, campaign, unsubscribe, variables, extra_headers) =
        match kind {
            MessageKind::Campaign | MessageKind::Test => {
                let campaign_id = match kind {
                    MessageKind::Campaign => message.campaign_id,
                    _ => message
                        .payload
                        .as_ref()
                        .and_then(|p| serde_json::from_value::<TestPayload>(p.0.clone()).ok())
                        .map(|p| p.campaign_id),
                };
                let Some(campaign_id) = campaign_id else {
                    return Ok(Verdict::Fail("the campaign is unknown".into()));
                };
                let campaign = match preloaded
                    .filter(|c| c.id == campaign_id)
                    .map(Ok)
                    .unwrap_or_else(|| Campaign::find_any(conn, campaign_id))
                {
                    Ok(c) => c,
                    Err(Error::NotFound(_)) => {
                        return Ok(Verdict::Skip("the campaign was deleted".into()));
                    }
                    Err(e) => return Err(e),
                };
                if kind == MessageKind::Campaign {
                    let (Some(list_id), Some(contact_id)) = (message.list_id, message.contact_id)
                    else {
                        return Ok(Verdict::Skip("the contact was deleted".into()));
                    };
                    if !audience::is_subscribed(conn, list_id, contact_id)? {
                        return Ok(Verdict::Skip("no longer subscribed".into()));
                    }
                    if !ConsentRecord::granted_contacts(
                        conn,
                        message.account_id,
                        &[contact_id],
                        MARKETING,
                    )?
                    .contains(&contact_id)
                    {
                        return Ok(Verdict::Skip("marketing consent withdrawn".into()));
                    }
                }
                let list_id = message
                    .list_id
                    .or_else(|| campaign.list_ids().first().copied());
                let list =
                    list_id.and_then(|id| MailingList::find(conn, message.account_id, id).ok());
                let mut template = campaign.template();
                if kind == MessageKind::Test {
                    template.subject = format!("[TEST] {}", template.subject);
                }
                let url = unsubscribe_url(settings, ctx, message);
                (
                    template,
                    Address {
                        email: campaign.from_email.clone(),
                        name: campaign.from_name.clone(),
                    },
                    campaign
                        .reply_to
                        .clone()
                        .map(|email| Address { email, name: None }),
                    list.map(|l| ListVars { name: l.name }),
                    Some(CampaignVars {
                        name: campaign.name.clone(),
                    }),
                    Some(url),
                    Map::new(),
                    Vec::new(),
                )
            }
            MessageKind::Transactional => {
                let Some(payload) = message
                    .payload
                    .as_ref()
                    .and_then(|p| serde_json::from_value::<TransactionalPayload>(p.0.clone()).ok())
                else {
                    return Ok(Verdict::Fail("the message content is unreadable".into()));
                };
                (
                    TemplateSource {
                        subject: payload.subject,
                        html: payload.html.unwrap_or_default(),
                        text: payload.text,
                    },
                    Address {
                        email: payload.from_email,
                        name: payload.from_name,
                    },
                    payload.reply_to.map(|email| Address { email, name: None }),
                    None,
                    None,
                    None,
                    payload.variables,
                    payload.headers,
                )
            }
            MessageKind::Confirmation => {
                let Some(list) = message
                    .list_id
                    .and_then(|id| MailingList::find(conn, message.account_id, id).ok())
                else {
                    return Ok(Verdict::Skip("the list was deleted".into()));
                };
                let Some(url) = confirm_url(settings, ctx, message) else {
                    return Ok(Verdict::Skip("the contact was deleted".into()));
                };
                let mut variables = Map::new();
                variables.insert("confirm_url".into(), Value::String(url));
                (
                    confirmation_template(),
                    Address {
                        email: settings.delivery.mail_from.clone(),
                        name: Some(list.name.clone()),
                    },
                    None,
                    Some(ListVars { name: list.name }),
                    None,
                    None,
                    variables,
                    Vec::new(),
                )
            }
        };
    let context = RenderContext {
        contact: contact_vars(message, contact.as_ref()),
        list,
        campaign,
        unsubscribe_url: unsubscribe.clone(),
        variables,
    };
    let mut rendered = match rendering::render(&template, &context, &ctx.render_limits, kind) {
        Ok(r) => r,
        Err(e) => return Ok(Verdict::Fail(format!("template error: {e}"))),
    };
    let tracked = rendered.html.is_some()
        && tracking_allowed(conn, message, kind, account, contact.as_ref())?;
    if tracked && let Some(html) = rendered.html.take() {
        rendered.html = Some(add_tracking(ctx, message, &html));
    }
    let identity = match super::identity::identity(conn, ctx, message, &from.email)? {
        Ok(identity) => identity,
        Err(reason) => return Ok(Verdict::Fail(reason)),
    };
    let mut from = from;
    let mut reply_to = reply_to;
    if let Some(defaults) = identity.defaults() {
        if from.name.is_none() {
            from.name = defaults.from_name.clone();
        }
        if reply_to.is_none() {
            reply_to = defaults
                .reply_to
                .clone()
                .map(|email| Address { email, name: None });
        }
    }
    let envelope_from = rendering::verp_address(message.id, &settings.delivery.bounce_domain);
    let list_unsubscribe = unsubscribe.map(|https_url| ListUnsubscribe {
        https_url,
        mailto: settings.delivery.unsubscribe_mailto.clone(),
    });
    let built = rendering::build_mime(&MimeInput {
        message_id: message.id,
        from,
        to: Address {
            email: message.to_email.clone(),
            name: message.to_name.clone(),
        },
        reply_to,
        rendered: &rendered,
        list_unsubscribe,
        envelope_from,
        extra_headers,
        message_id_domain: settings.delivery.bounce_domain.clone(),
    });
    match built {
        Ok(mut built) => {
            identity.apply(&mut built)?;
            Ok(Verdict::Send(Box::new(Composed {
                built,
                rendered,
                tracked,
            })))
        }
        Err(e) => Ok(Verdict::Fail(format!(
            "the message could not be built: {e}"
        ))),
    }
}

/// Opens and clicks are tracked only when the sender asked for it (the campaign's or the
/// message's `tracking`), the account enables tracking, and the recipient is a contact whose
/// `tracking` consent is granted. Tests and confirmations are never tracked.
fn tracking_allowed(
    conn: &mut DbConnection,
    message: &Message,
    kind: MessageKind,
    account: &Account,
    contact: Option<&Contact>,
) -> mailroom_domain::Result<bool> {
    if !message.tracking || !matches!(kind, MessageKind::Campaign | MessageKind::Transactional) {
        return Ok(false);
    }
    if !account.tracking_enabled {
        return Ok(false);
    }
    let Some(contact) = contact else {
        return Ok(false);
    };
    Ok(ConsentRecord::granted_contacts(
        conn,
        message.account_id,
        &[contact.id],
        purposes::TRACKING,
    )?
    .contains(&contact.id))
}

/// Rewrites the HTML's links to signed click links (Mailroom's own links — unsubscribe,
/// confirm — stay as they are) and adds the open pixel.
fn add_tracking(ctx: &WorkerContext, message: &Message, html: &str) -> String {
    let base = ctx.settings.public_url.as_str();
    let (rewritten, _) = tracking::rewrite_links(html, |url| {
        if url.starts_with(base) {
            return None;
        }
        let token = ctx.signer.sign(&PublicToken::Click {
            message_id: message.id,
            url: url.to_owned(),
        });
        Some(format!("{base}/t/c/{token}"))
    });
    let pixel = ctx.signer.sign(&PublicToken::Open {
        message_id: message.id,
    });
    tracking::insert_open_pixel(&rewritten, &format!("{base}/t/o/{pixel}"))
}

fn confirmation_template() -> TemplateSource {
    TemplateSource {
        subject: "Please confirm your subscription to {{ list.name }}".into(),
        html: "<p>Hello{% if contact.name %} {{ contact.name }}{% endif %},</p>\
               <p>Please confirm that you want to receive <strong>{{ list.name }}</strong>:</p>\
               <p><a href=\"{{ confirm_url }}\">Confirm my subscription</a></p>\
               <p>If you did not ask for this, ignore this email and you will not hear from us again.</p>"
            .into(),
        text: Some(
            "Hello{% if contact.name %} {{ contact.name }}{% endif %},\n\n\
             Please confirm that you want to receive {{ list.name }}:\n{{ confirm_url }}\n\n\
             If you did not ask for this, ignore this email and you will not hear from us again.\n"
                .into(),
        ),
    }
}
