//! A campaign's statistics: the counters the events worker keeps, rates, and clicks per
//! link.

use actix_web::{HttpResponse, get, web};
use mailroom_domain::Id;
use mailroom_domain::accounts::Scope;
use mailroom_domain::campaigns::Campaign;
use mailroom_domain::events::CampaignStats;

use crate::auth::Principal;
use crate::problem::ApiError;
use crate::state::AppState;

/// Counts and rates of a campaign: sent, deferred, bounced (hard/soft), blocked, opened and
/// clicked (unique/total), unsubscribed, complained, failed; clicks per link.
#[utoipa::path(
    tag = "campaigns",
    params(("id" = Id, Path)),
    responses((status = 200, description = "The campaign's statistics", body = CampaignStats))
)]
#[get("/campaigns/{id}/stats")]
pub async fn get_campaign_stats(
    principal: Principal,
    state: web::Data<AppState>,
    id: web::Path<Id>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::CampaignsRead)?;
    let (account, id) = (principal.account_id, id.into_inner());
    let stats = state
        .db(move |conn| {
            let campaign = Campaign::find(conn, account, id)?;
            CampaignStats::load(conn, campaign.id, i64::from(campaign.recipients))
        })
        .await?;
    Ok(HttpResponse::Ok().json(stats))
}
