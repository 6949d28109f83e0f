-- Account settings for tracking and unsubscribing, per-message tracking, the event log,
-- campaign counters, webhook endpoints and their delivery log, and inbound reports.
ALTER TABLE accounts ADD COLUMN tracking_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE accounts ADD COLUMN unsubscribe_scope text NOT NULL DEFAULT 'list';
ALTER TABLE accounts ADD COLUMN truncate_ips boolean NOT NULL DEFAULT false;

ALTER TABLE campaigns ADD COLUMN tracking boolean NOT NULL DEFAULT true;

ALTER TABLE messages ADD COLUMN tracking boolean NOT NULL DEFAULT true;
ALTER TABLE messages ADD COLUMN tracked boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN opened_at timestamptz;
ALTER TABLE messages ADD COLUMN clicked_at timestamptz;

CREATE TABLE events (
    id            uuid PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    type          text NOT NULL,
    message_id    uuid,
    campaign_id   uuid,
    contact_id    uuid,
    email         text,
    custom_id     text,
    url           text,
    ip            text,
    user_agent    text,
    bounce_class  text,
    diagnostic    text,
    source        text,
    occurred_at   timestamptz NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX events_account_idx ON events (account_id, id);
CREATE INDEX events_campaign_idx ON events (campaign_id, type);
CREATE INDEX events_message_idx ON events (message_id);

CREATE TABLE campaign_stats (
    campaign_id     uuid PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    sent            integer NOT NULL DEFAULT 0,
    deferred        integer NOT NULL DEFAULT 0,
    bounced_hard    integer NOT NULL DEFAULT 0,
    bounced_soft    integer NOT NULL DEFAULT 0,
    blocked         integer NOT NULL DEFAULT 0,
    opened_unique   integer NOT NULL DEFAULT 0,
    opened_total    integer NOT NULL DEFAULT 0,
    clicked_unique  integer NOT NULL DEFAULT 0,
    clicked_total   integer NOT NULL DEFAULT 0,
    unsubscribed    integer NOT NULL DEFAULT 0,
    complained      integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE webhooks (
    id                        uuid PRIMARY KEY,
    account_id                uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url                       text NOT NULL,
    event_types               jsonb NOT NULL,
    enabled                   boolean NOT NULL,
    secret                    text NOT NULL,
    previous_secret           text,
    previous_secret_until     timestamptz,
    disabled_reason           text,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
);
CREATE INDEX webhooks_account_idx ON webhooks (account_id, id);

CREATE TABLE webhook_deliveries (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    webhook_id     uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    payload        jsonb NOT NULL,
    status         text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    response_code  integer,
    latency_ms     integer,
    last_error     text,
    next_attempt_at timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

CREATE TABLE inbound_reports (
    id                  uuid PRIMARY KEY,
    account_id          uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind                text NOT NULL,
    message_id          uuid,
    matched             boolean NOT NULL,
    summary             jsonb NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX inbound_reports_account_idx ON inbound_reports (account_id, id);
