//! The router: every endpoint, one file per resource. Registering a handler here also puts
//! it in the OpenAPI document.

pub mod account;
pub mod account_deletion;
pub mod admin;
pub mod admin_accounts;
pub mod admin_audit;
pub mod admin_retention;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod campaign_actions;
pub mod campaign_stats;
pub mod campaigns;
pub mod confirm;
pub mod consents;
pub mod contact_properties;
pub mod contacts;
pub mod data_subject_requests;
pub mod events;
pub mod health;
pub mod imports;
pub mod inbound;
pub mod list_export;
pub mod list_members;
pub mod lists;
pub mod metrics;
pub mod sandbox;
pub mod send;
pub mod sending_domains;
pub mod suppressions;
pub mod tracking;
pub mod unsubscribe;
pub mod webhooks;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // The tracking endpoints take the most traffic: they are matched first.
    cfg.service(tracking::open_pixel)
        .service(tracking::click)
        .service(health::healthz)
        .service(health::readyz)
        .service(metrics::metrics)
        .service(confirm::show_confirmation)
        .service(confirm::confirm_subscription)
        .service(unsubscribe::show_unsubscribe)
        .service(unsubscribe::unsubscribe)
        .service(
            scope::scope("/v1")
                .service(admin::create_account)
                .service(admin_accounts::list_admin_accounts)
                .service(admin_accounts::get_admin_account)
                .service(admin_accounts::update_admin_account)
                .service(admin_accounts::suspend_account)
                .service(admin_accounts::resume_account)
                .service(admin_audit::list_operator_audit_events)
                .service(admin_retention::purge_retention)
                .service(auth::issue_token)
                .service(account::get_account)
                .service(account::update_account)
                .service(account_deletion::delete_account)
                .service(account_deletion::cancel_account_deletion)
                .service(api_keys::list_api_keys)
                .service(api_keys::create_api_key)
                .service(api_keys::get_api_key)
                .service(api_keys::revoke_api_key)
                .service(contact_properties::create_contact_property)
                .service(contact_properties::list_contact_properties)
                .service(contact_properties::delete_contact_property)
                .service(contacts::create_contact)
                .service(contacts::list_contacts)
                .service(contacts::get_contact)
                .service(contacts::update_contact)
                .service(contacts::delete_contact)
                .service(contacts::lift_contact_restriction)
                .service(consents::append_consent)
                .service(consents::list_consents)
                .service(lists::create_list)
                .service(lists::list_lists)
                .service(lists::get_list)
                .service(lists::update_list)
                .service(lists::delete_list)
                .service(list_members::add_list_member)
                .service(list_members::list_list_members)
                .service(list_members::get_list_member)
                .service(list_members::remove_list_member)
                .service(list_export::export_list)
                .service(imports::create_import)
                .service(imports::list_imports)
                .service(imports::get_import)
                .service(suppressions::list_suppressions)
                .service(suppressions::add_suppression)
                .service(suppressions::remove_suppression)
                .service(suppressions::undo_campaign_suppressions)
                .service(campaigns::create_campaign)
                .service(campaigns::list_campaigns)
                .service(campaigns::get_campaign)
                .service(campaigns::update_campaign)
                .service(campaigns::delete_campaign)
                .service(campaign_actions::preview_campaign)
                .service(campaign_actions::test_campaign)
                .service(campaign_actions::schedule_campaign)
                .service(campaign_actions::send_campaign)
                .service(campaign_actions::cancel_campaign)
                .service(campaign_actions::pause_campaign)
                .service(campaign_actions::resume_campaign)
                .service(campaign_stats::get_campaign_stats)
                .service(events::list_events)
                .service(audit::list_audit_events)
                .service(data_subject_requests::create_data_subject_request)
                .service(data_subject_requests::list_data_subject_requests)
                .service(data_subject_requests::data_subject_request_summary)
                .service(data_subject_requests::get_data_subject_request)
                .service(data_subject_requests::verify_data_subject_request)
                .service(data_subject_requests::reject_data_subject_request)
                .service(data_subject_requests::export_data_subject_request)
                .service(send::send_messages)
                .service(sandbox::list_sandbox_messages)
                .service(inbound::receive_inbound_message)
                .service(inbound::list_inbound_reports)
                .service(sending_domains::create_sending_domain)
                .service(sending_domains::list_sending_domains)
                .service(sending_domains::get_sending_domain)
                .service(sending_domains::update_sending_domain)
                .service(sending_domains::delete_sending_domain)
                .service(sending_domains::verify_sending_domain)
                .service(sending_domains::rotate_sending_domain_dkim)
                .service(webhooks::create_webhook)
                .service(webhooks::list_webhooks)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::test_webhook),
        );
}
