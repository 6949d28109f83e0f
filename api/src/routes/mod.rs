//! The router: every endpoint, one file per resource. Registering a handler here also puts
//! it in the OpenAPI document.

pub mod admin;
pub mod api_keys;
pub mod auth;
pub mod contact_properties;
pub mod contacts;
pub mod health;
pub mod list_export;
pub mod list_members;
pub mod lists;

use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            scope::scope("/v1")
                .service(admin::create_account)
                .service(auth::issue_token)
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
                .service(lists::create_list)
                .service(lists::list_lists)
                .service(lists::get_list)
                .service(lists::update_list)
                .service(lists::delete_list)
                .service(list_members::add_list_member)
                .service(list_members::list_list_members)
                .service(list_members::get_list_member)
                .service(list_members::remove_list_member)
                .service(list_export::export_list),
        );
}
