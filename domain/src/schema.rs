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
        tracking_enabled -> Bool,
        unsubscribe_scope -> Text,
        truncate_ips -> Bool,
        support_access_until -> Nullable<PortableTimestamp>,
        retention_events_days -> Integer,
        retention_messages_days -> Integer,
        retention_dsr_exports_days -> Integer,
        retention_webhook_deliveries_days -> Integer,
        deletion_requested_at -> Nullable<PortableTimestamp>,
        deletion_due_at -> Nullable<PortableTimestamp>,
        status -> Text,
        suspended_reason -> Nullable<Text>,
        suspended_at -> Nullable<PortableTimestamp>,
        suspended_by -> Nullable<Text>,
        messages_per_hour -> Nullable<Integer>,
        messages_per_day -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    account_send_windows (account_id, period, starts_at) {
        account_id -> PortableUuid,
        period -> Text,
        starts_at -> PortableTimestamp,
        sent -> Integer,
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
        /// Set while processing is restricted (GDPR art. 18): neither mailed nor tracked.
        restricted_at -> Nullable<PortableTimestamp>,
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
        campaign_id -> Nullable<PortableUuid>,
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
        tracking -> Bool,
        bounce_valve -> Text,
        quota_wait_until -> Nullable<PortableTimestamp>,
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
        tracking -> Bool,
        tracked -> Bool,
        opened_at -> Nullable<PortableTimestamp>,
        clicked_at -> Nullable<PortableTimestamp>,
        content_purged_at -> Nullable<PortableTimestamp>,
        outcome_class -> Nullable<Text>,
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
        lane -> Text,
        account_id -> PortableUuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    tracking_counts (message_id, link) {
        message_id -> PortableUuid,
        link -> Text,
        counted_at -> PortableTimestamp,
        repeats_until -> PortableTimestamp,
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

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    events (account_id, id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        #[sql_name = "type"]
        event_type -> Text,
        message_id -> Nullable<PortableUuid>,
        campaign_id -> Nullable<PortableUuid>,
        contact_id -> Nullable<PortableUuid>,
        email -> Nullable<Text>,
        custom_id -> Nullable<Text>,
        url -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        bounce_class -> Nullable<Text>,
        diagnostic -> Nullable<Text>,
        source -> Nullable<Text>,
        occurred_at -> PortableTimestamp,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    campaign_stats (campaign_id) {
        campaign_id -> PortableUuid,
        account_id -> PortableUuid,
        sent -> Integer,
        deferred -> Integer,
        bounced_hard -> Integer,
        bounced_soft -> Integer,
        blocked -> Integer,
        opened_unique -> Integer,
        opened_total -> Integer,
        clicked_unique -> Integer,
        clicked_total -> Integer,
        unsubscribed -> Integer,
        complained -> Integer,
        failed -> Integer,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    webhooks (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        url -> Text,
        event_types -> PortableJson,
        enabled -> Bool,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<PortableTimestamp>,
        disabled_reason -> Nullable<Text>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    webhook_deliveries (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        webhook_id -> PortableUuid,
        event_id -> PortableUuid,
        event_type -> Text,
        payload -> PortableJson,
        status -> Text,
        attempts -> Integer,
        response_code -> Nullable<Integer>,
        latency_ms -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        next_attempt_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    inbound_reports (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        kind -> Text,
        message_id -> Nullable<PortableUuid>,
        matched -> Bool,
        summary -> PortableJson,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    audit_events (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        actor_type -> Text,
        actor_id -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        details -> Nullable<PortableJson>,
        created_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    imports (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        list_id -> PortableUuid,
        status -> Text,
        source -> Nullable<Text>,
        policy_version -> Nullable<Text>,
        size_bytes -> BigInt,
        mapped_columns -> PortableJson,
        ignored_columns -> PortableJson,
        rows_read -> Integer,
        created -> Integer,
        updated -> Integer,
        duplicates -> Integer,
        skipped_suppressed -> Integer,
        skipped_erased -> Integer,
        rejected -> Integer,
        rejections -> PortableJson,
        error -> Nullable<Text>,
        created_at -> PortableTimestamp,
        started_at -> Nullable<PortableTimestamp>,
        completed_at -> Nullable<PortableTimestamp>,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    import_chunks (import_id, seq) {
        import_id -> PortableUuid,
        seq -> Integer,
        data -> Binary,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    /// Requests of data subjects (access, portability, rectification, erasure, restriction,
    /// objection), due 30 days after receipt.
    data_subject_requests (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        kind -> Text,
        status -> Text,
        subject_email -> Nullable<Text>,
        subject_hash -> Text,
        verification -> Nullable<PortableJson>,
        changes -> Nullable<PortableJson>,
        outcome -> Nullable<PortableJson>,
        rejection_reason -> Nullable<Text>,
        received_at -> PortableTimestamp,
        due_at -> PortableTimestamp,
        verified_at -> Nullable<PortableTimestamp>,
        processing_at -> Nullable<PortableTimestamp>,
        completed_at -> Nullable<PortableTimestamp>,
        rejected_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    /// The export an access or portability request produced.
    data_subject_exports (request_id) {
        request_id -> PortableUuid,
        account_id -> PortableUuid,
        document -> PortableJson,
        size_bytes -> BigInt,
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
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(import_chunks -> imports (import_id));
diesel::joinable!(tracking_counts -> messages (message_id));

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    operator_alerts (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        reason -> Text,
        created_at -> PortableTimestamp,
        next_attempt_at -> PortableTimestamp,
        attempts -> Integer,
        delivered_at -> Nullable<PortableTimestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    outcome_totals (outcome, shard) {
        outcome -> Text,
        shard -> Integer,
        total -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_types::*;

    sending_domains (id) {
        id -> PortableUuid,
        account_id -> PortableUuid,
        domain -> Text,
        status -> Text,
        ownership_token -> Text,
        dkim_selector -> Text,
        dkim_algorithm -> Text,
        dkim_public_key -> Text,
        dkim_private_key -> Text,
        next_dkim_selector -> Nullable<Text>,
        next_dkim_algorithm -> Nullable<Text>,
        next_dkim_public_key -> Nullable<Text>,
        next_dkim_private_key -> Nullable<Text>,
        previous_dkim_selector -> Nullable<Text>,
        previous_dkim_algorithm -> Nullable<Text>,
        previous_dkim_public_key -> Nullable<Text>,
        default_from_name -> Nullable<Text>,
        default_reply_to -> Nullable<Text>,
        last_check -> Nullable<PortableJson>,
        checked_at -> Nullable<PortableTimestamp>,
        verified_at -> Nullable<PortableTimestamp>,
        created_at -> PortableTimestamp,
        updated_at -> PortableTimestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    account_send_windows,
    operator_alerts,
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
    events,
    campaign_stats,
    webhooks,
    webhook_deliveries,
    inbound_reports,
    audit_events,
    imports,
    import_chunks,
    data_subject_requests,
    data_subject_exports,
    tracking_counts,
    outcome_totals,
    sending_domains,
);
