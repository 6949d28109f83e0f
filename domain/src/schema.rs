//! Tables, written once for both backends with the portable column types of
//! [`crate::store::sql_types`]. Keep in step with `migrations/postgres` and `migrations/sqlite`.

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    accounts (id) {
        id -> PortableUuid,
        name -> Text,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    api_keys (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        name -> Text,
        secret_hash -> Text,
        scopes -> PortableJson,
        created_at -> PortableTimestamp,
        revoked_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    contact_properties (account_id, name) {
        account_id -> PortableUuid,
        name -> Text,
        property_type -> Text,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    contacts (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        email -> Text,
        name -> Nullable<Text>,
        properties -> PortableJson,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    lists (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        name -> Text,
        description -> Nullable<Text>,
        double_opt_in -> Bool,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    list_members (list_id, contact_id) {
        list_id -> PortableUuid,
        contact_id -> PortableUuid,
        account_id -> PortableUuid,
        status -> Text,
        subscribed_at -> Nullable<PortableTimestamp>,
        unsubscribed_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::joinable!(api_keys -> accounts (account_id));
diesel::joinable!(contacts -> accounts (account_id));
diesel::joinable!(lists -> accounts (account_id));
diesel::joinable!(list_members -> contacts (contact_id));
diesel::joinable!(list_members -> lists (list_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_keys,
    contact_properties,
    contacts,
    lists,
    list_members,
);
