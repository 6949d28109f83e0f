//! Campaigns: create, read, list, edit (drafts only), delete.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use mailroom_domain::accounts::Scope;
use mailroom_domain::campaigns::{Campaign, CampaignDraft, CampaignStatus, Progress};
use mailroom_domain::pagination::Page;
use mailroom_domain::sending_domains::SenderPolicy;
use mailroom_domain::store::DbConnection;
use mailroom_domain::{Id, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::api_keys::PageQuery;
use crate::auth::Principal;
use crate::extract::{ApiJson, ApiQuery};
use crate::problem::ApiError;
use crate::state::AppState;

/// A sending campaign's `paused_reason` while its account's sending window is full.
pub const QUOTA_WAIT: &str = "quota";

#[derive(Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Id,
    pub name: String,
    pub list_ids: Vec<Id>,
    pub subject: String,
    pub from_email: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub html: String,
    pub text: Option<String>,
    /// Opens and clicks are tracked (where the account enables tracking and the
    /// recipient consents to it).
    pub tracking: bool,
    pub status: CampaignStatus,
    pub send_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    /// Why the campaign is paused (by request; after repeated relay failures or blocked
    /// answers, quoting the last answer; by the hard-bounce safety valve, quoting the
    /// latest bounce; because its account was suspended), or `quota` while a sending
    /// campaign waits for its account's next sending window.
    pub paused_reason: Option<String>,
    /// While the campaign waits for its account's next sending window: when it goes on.
    pub resumes_at: Option<Timestamp>,
    pub progress: Progress,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl CampaignView {
    pub fn new(campaign: Campaign, progress: Progress, quota_wait: Option<Timestamp>) -> Self {
        CampaignView {
            resumes_at: quota_wait,
            list_ids: campaign.list_ids(),
            status: campaign.status(),
            id: campaign.id,
            name: campaign.name,
            subject: campaign.subject,
            from_email: campaign.from_email,
            from_name: campaign.from_name,
            reply_to: campaign.reply_to,
            html: campaign.html,
            text: campaign.text_body,
            tracking: campaign.tracking,
            send_at: campaign.send_at,
            started_at: campaign.started_at,
            completed_at: campaign.completed_at,
            paused_reason: match quota_wait {
                Some(_) => Some(QUOTA_WAIT.to_owned()),
                None => campaign.paused_reason,
            },
            progress,
            created_at: campaign.created_at,
            updated_at: campaign.updated_at,
        }
    }

    /// Loads the progress of a campaign and builds its view (inside a db closure).
    pub fn load(
        conn: &mut mailroom_domain::store::DbConnection,
        campaign: Campaign,
    ) -> mailroom_domain::Result<Self> {
        let progress = campaign.progress(conn)?;
        let quota_wait = campaign.quota_wait(conn)?;
        Ok(CampaignView::new(campaign, progress, quota_wait))
    }
}

pub(crate) fn double_option<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A campaign's content. Templates use minijinja: `{{ contact.email }}`, `{{ contact.name }}`,
/// `{{ contact.properties.<name> }}`, `{{ list.name }}`, `{{ campaign.name }}`,
/// `{{ unsubscribe_url }}` (a footer with it is added when the HTML does not use it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "November news",
    "list_ids": ["01970f6e-8d3c-7a51-9a1e-2f4c3b5d6e7f"],
    "subject": "News for {{ contact.name }}",
    "from_email": "news@shop.example",
    "from_name": "The Shop",
    "html": "<p>Hello {{ contact.name }}</p>"
}))]
pub struct NewCampaign {
    /// 1–200 characters, not blank.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The lists whose subscribers receive it (at least one).
    #[schema(min_items = 1)]
    pub list_ids: Vec<Id>,
    /// 1–255 characters, not blank; a template.
    #[schema(min_length = 1, max_length = 255)]
    pub subject: String,
    #[schema(format = Email, max_length = 254)]
    pub from_email: String,
    /// One line of at most 200 characters.
    #[schema(max_length = 200, pattern = r"^[^\u0000\r\n]*$")]
    pub from_name: Option<String>,
    #[schema(format = Email, max_length = 254)]
    pub reply_to: Option<String>,
    /// A template, not blank.
    #[schema(min_length = 1)]
    pub html: String,
    /// The plain-text part; derived from the HTML when absent.
    pub text: Option<String>,
    /// Track opens and clicks (default `true`): only where the account enables tracking
    /// and the recipient consents to it.
    pub tracking: Option<bool>,
}

impl From<NewCampaign> for CampaignDraft {
    fn from(c: NewCampaign) -> Self {
        CampaignDraft {
            name: Some(c.name),
            list_ids: Some(c.list_ids),
            subject: Some(c.subject),
            from_email: Some(c.from_email),
            from_name: Some(c.from_name),
            reply_to: Some(c.reply_to),
            html: Some(c.html),
            text: Some(c.text),
            tracking: c.tracking,
        }
    }
}

/// Changes to a draft; absent fields stay as they are, `null` clears an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignChanges {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_items = 1)]
    pub list_ids: Option<Vec<Id>>,
    /// 1–255 characters, not blank; a template.
    #[schema(min_length = 1, max_length = 255)]
    pub subject: Option<String>,
    #[schema(format = Email, max_length = 254)]
    pub from_email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\u0000\r\n]*$")]
    pub from_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, format = Email, max_length = 254)]
    pub reply_to: Option<Option<String>>,
    #[schema(min_length = 1)]
    pub html: Option<String>,
    /// The plain-text part; derived from the HTML when absent.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub text: Option<Option<String>>,
    /// Track opens and clicks (default `true`): only where the account enables tracking
    /// and the recipient consents to it.
    pub tracking: Option<bool>,
}

impl From<CampaignChanges> for CampaignDraft {
    fn from(b: CampaignChanges) -> Self {
        CampaignDraft {
            name: b.name,
            list_ids: b.list_ids,
            subject: b.subject,
            from_email: b.from_email,
            from_name: b.from_name,
            reply_to: b.reply_to,
            html: b.html,
            text: b.text,
            tracking: b.tracking,
        }
    }
}

/// Refuses a campaign whose From is on a domain the account has not verified (per the
/// installation's [`SenderPolicy`]); a draft without a From yet passes.
pub fn check_sender(
    conn: &mut DbConnection,
    policy: SenderPolicy,
    campaign: &Campaign,
) -> mailroom_domain::Result<()> {
    if campaign.from_email.is_empty() {
        return Ok(());
    }
    policy
        .check(
            conn,
            campaign.account_id,
            "from_email",
            &campaign.from_email,
        )
        .map(|_| ())
}

/// Creates a draft campaign. Templates that do not compile are refused with their line.
#[utoipa::path(
    tag = "campaigns",
    request_body = NewCampaign,
    responses(
        (status = 201, description = "Draft created", body = CampaignView),
        (status = 422, description = "Invalid input (`validation_failed`, `sensitive_data_rejected`), or `from_email` is on a domain the account has not verified while a relay is configured (`sender_domain_unverified`, `field` names it)", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[post("/campaigns")]
pub async fn create_campaign(
    principal: Principal,
    state: web::Data<AppState>,
    body: ApiJson<NewCampaign>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsWrite)?;
    let draft = CampaignDraft::from(body.0);
    let account = principal.account_id;
    let policy = SenderPolicy::of(&state.settings);
    let view = state
        .db(move |conn| {
            conn.write_transaction(|conn| {
                let campaign = Campaign::create(conn, account, draft)?;
                check_sender(conn, policy, &campaign)?;
                CampaignView::load(conn, campaign)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}

/// Lists campaigns, oldest first.
#[utoipa::path(tag = "campaigns", params(PageQuery), responses((status = 200, description = "A page of campaigns", body = Page<CampaignView>)))]
#[get("/campaigns")]
pub async fn list_campaigns(
    principal: Principal,
    state: web::Data<AppState>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsRead)?;
    let page = query.page()?;
    let account = principal.account_id;
    let views = state
        .db(move |conn| {
            let page = Campaign::list(conn, account, &page)?;
            let mut data = Vec::with_capacity(page.data.len());
            for campaign in page.data {
                data.push(CampaignView::load(conn, campaign)?);
            }
            Ok(Page {
                data,
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(views))
}

/// Shows a campaign with its status and progress.
#[utoipa::path(tag = "campaigns", params(("id" = Id, Path)), responses((status = 200, description = "The campaign", body = CampaignView)))]
#[get("/campaigns/{id}")]
pub async fn get_campaign(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let view = state
        .db(move |conn| Campaign::find(conn, account, id).and_then(|c| CampaignView::load(conn, c)))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Edits a draft (409 once it is scheduled or sending).
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path)),
    request_body = CampaignChanges,
    responses(
        (status = 200, description = "The updated draft", body = CampaignView),
        (status = 409, description = "Not a draft", body = crate::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`validation_failed`, `sensitive_data_rejected`), or `from_email` is on a domain the account has not verified while a relay is configured (`sender_domain_unverified`, `field` names it)", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[patch("/campaigns/{id}")]
pub async fn update_campaign(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
    body: ApiJson<CampaignChanges>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsWrite)?;
    let draft = CampaignDraft::from(body.0);
    let (account, id) = (principal.account_id, id.into_inner());
    let policy = SenderPolicy::of(&state.settings);
    let sender_changes = draft.from_email.is_some();
    let view = state
        .db(move |conn| {
            conn.write_transaction(|conn| {
                let campaign = Campaign::update(conn, account, id, draft)?;
                if sender_changes {
                    check_sender(conn, policy, &campaign)?;
                }
                CampaignView::load(conn, campaign)
            })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Deletes a campaign that is not scheduled or under way and never mailed anyone (a campaign
/// that sent mail is kept: its messages back the unsubscribe links in that mail).
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path)),
    responses(
        (status = 204, description = "Campaign deleted"),
        (status = 409, description = "Scheduled or under way (cancel it first), or it already mailed someone", body = crate::problem::Problem, content_type = "application/problem+json"),
    )
)]
#[delete("/campaigns/{id}")]
pub async fn delete_campaign(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsWrite)?;
    let (account, id) = (principal.account_id, id.into_inner());
    state
        .db(move |conn| Campaign::delete(conn, account, id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
