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

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    consents (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        contact_id -> PortableUuid,
        list_id -> Nullable<PortableUuid>,
        purpose -> Text,
        status -> Text,
        method -> Text,
        source -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        policy_version -> Nullable<Text>,
        evidence -> Nullable<PortableJson>,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    suppressions (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        email -> Nullable<Text>,
        email_hash -> Text,
        reason -> Text,
        note -> Nullable<Text>,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    campaigns (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        name -> Text,
        subject -> Text,
        from_email -> Text,
        from_name -> Nullable<Text>,
        reply_to -> Nullable<Text>,
        html -> Text,
        text_body -> Nullable<Text>,
        list_ids -> PortableJson,
        status -> Text,
        send_at -> Nullable<PortableTimestamp>,
        started_at -> Nullable<PortableTimestamp>,
        completed_at -> Nullable<PortableTimestamp>,
        paused_reason -> Nullable<Text>,
        dispatched_at -> Nullable<PortableTimestamp>,
        recipients -> Integer,
        consecutive_failures -> Integer,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    messages (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        campaign_id -> Nullable<PortableUuid>,
        contact_id -> Nullable<PortableUuid>,
        list_id -> Nullable<PortableUuid>,
        kind -> Text,
        to_email -> Text,
        to_name -> Nullable<Text>,
        subject -> Nullable<Text>,
        payload -> Nullable<PortableJson>,
        custom_id -> Nullable<Text>,
        status -> Text,
        attempts -> Integer,
        last_error -> Nullable<Text>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
        sent_at -> Nullable<PortableTimestamp>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    jobs (id) {
        id -> PortableUuid,
        kind -> Text,
        group_id -> Nullable<PortableUuid>,
        payload -> PortableJson,
        priority -> Integer,
        status -> Text,
        run_at -> PortableTimestamp,
        attempts -> Integer,
        max_attempts -> Integer,
        locked_until -> Nullable<PortableTimestamp>,
        last_error -> Nullable<Text>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    sandbox_messages (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        message_id -> PortableUuid,
        to_email -> Text,
        subject -> Text,
        headers -> PortableJson,
        html -> Nullable<Text>,
        text_body -> Nullable<Text>,
        raw -> Text,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    idempotency_keys (account_id, endpoint, idempotency_key) {
        account_id -> PortableUuid,
        endpoint -> Text,
        idempotency_key -> Text,
        request_hash -> Text,
        status_code -> Integer,
        response -> PortableJson,
        created_at -> PortableTimestamp,
    }
}

diesel::joinable!(api_keys -> accounts (account_id));
diesel::joinable!(contacts -> accounts (account_id));
diesel::joinable!(lists -> accounts (account_id));
diesel::joinable!(list_members -> contacts (contact_id));
diesel::joinable!(list_members -> lists (list_id));
diesel::joinable!(consents -> contacts (contact_id));
diesel::joinable!(messages -> campaigns (campaign_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_keys,
    contact_properties,
    contacts,
    lists,
    list_members,
    consents,
    suppressions,
    campaigns,
    messages,
    jobs,
    sandbox_messages,
    idempotency_keys,
);
