-- Account settings for tracking and unsubscribing, per-message tracking, the event log,
-- campaign counters, webhook endpoints and their delivery log, and inbound reports.
ALTER TABLE accounts ADD COLUMN tracking_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN unsubscribe_scope TEXT NOT NULL DEFAULT 'list';
ALTER TABLE accounts ADD COLUMN truncate_ips INTEGER NOT NULL DEFAULT 0;

ALTER TABLE campaigns ADD COLUMN tracking INTEGER NOT NULL DEFAULT 1;

ALTER TABLE messages ADD COLUMN tracking INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN tracked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN opened_at TEXT;
ALTER TABLE messages ADD COLUMN clicked_at TEXT;

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    message_id    TEXT,
    campaign_id   TEXT,
    contact_id    TEXT,
    email         TEXT,
    custom_id     TEXT,
    url           TEXT,
    ip            TEXT,
    user_agent    TEXT,
    bounce_class  TEXT,
    diagnostic    TEXT,
    source        TEXT,
    occurred_at   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX events_account_idx ON events (account_id, id);
CREATE INDEX events_campaign_idx ON events (campaign_id, type);
CREATE INDEX events_message_idx ON events (message_id);

CREATE TABLE campaign_stats (
    campaign_id     TEXT PRIMARY KEY REFERENCES campaigns (id) ON DELETE CASCADE,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    sent            INTEGER NOT NULL DEFAULT 0,
    deferred        INTEGER NOT NULL DEFAULT 0,
    bounced_hard    INTEGER NOT NULL DEFAULT 0,
    bounced_soft    INTEGER NOT NULL DEFAULT 0,
    blocked         INTEGER NOT NULL DEFAULT 0,
    opened_unique   INTEGER NOT NULL DEFAULT 0,
    opened_total    INTEGER NOT NULL DEFAULT 0,
    clicked_unique  INTEGER NOT NULL DEFAULT 0,
    clicked_total   INTEGER NOT NULL DEFAULT 0,
    unsubscribed    INTEGER NOT NULL DEFAULT 0,
    complained      INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    updated_at      TEXT NOT NULL
);

CREATE TABLE webhooks (
    id                        TEXT PRIMARY KEY,
    account_id                TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url                       TEXT NOT NULL,
    event_types               TEXT NOT NULL,
    enabled                   INTEGER NOT NULL,
    secret                    TEXT NOT NULL,
    previous_secret           TEXT,
    previous_secret_until     TEXT,
    disabled_reason           TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
CREATE INDEX webhooks_account_idx ON webhooks (account_id, id);

CREATE TABLE webhook_deliveries (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    webhook_id     TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id       TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    payload        TEXT NOT NULL,
    status         TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    response_code  INTEGER,
    latency_ms     INTEGER,
    last_error     TEXT,
    next_attempt_at TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);

CREATE TABLE inbound_reports (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL,
    message_id          TEXT,
    matched             INTEGER NOT NULL,
    summary             TEXT NOT NULL,
    created_at          TEXT NOT NULL
);
CREATE INDEX inbound_reports_account_idx ON inbound_reports (account_id, id);
