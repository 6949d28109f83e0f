-- Consent ledger, suppressions, campaigns, messages, the job table (queue and outbox),
-- the sandbox mailbox and stored idempotent responses.
CREATE TABLE consents (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact_id      TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    list_id         TEXT,
    purpose         TEXT NOT NULL,
    status          TEXT NOT NULL,
    method          TEXT NOT NULL,
    source          TEXT,
    ip              TEXT,
    user_agent      TEXT,
    policy_version  TEXT,
    evidence        TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX consents_contact_idx ON consents (contact_id, purpose, created_at);

CREATE TABLE suppressions (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email       TEXT,
    email_hash  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    note        TEXT,
    created_at  TEXT NOT NULL,
    CONSTRAINT suppressions_account_hash_key UNIQUE (account_id, email_hash)
);
CREATE INDEX suppressions_account_idx ON suppressions (account_id, id);

CREATE TABLE campaigns (
    id                    TEXT PRIMARY KEY,
    account_id            TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    subject               TEXT NOT NULL,
    from_email            TEXT NOT NULL,
    from_name             TEXT,
    reply_to              TEXT,
    html                  TEXT NOT NULL,
    text_body             TEXT,
    list_ids              TEXT NOT NULL,
    status                TEXT NOT NULL,
    send_at               TEXT,
    started_at            TEXT,
    completed_at          TEXT,
    paused_reason         TEXT,
    dispatched_at         TEXT,
    recipients            INTEGER NOT NULL,
    consecutive_failures  INTEGER NOT NULL,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
CREATE INDEX campaigns_account_idx ON campaigns (account_id, id);

CREATE TABLE messages (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    campaign_id  TEXT REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id   TEXT REFERENCES contacts (id) ON DELETE SET NULL,
    list_id      TEXT,
    kind         TEXT NOT NULL,
    to_email     TEXT NOT NULL,
    to_name      TEXT,
    subject      TEXT,
    payload      TEXT,
    custom_id    TEXT,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    last_error   TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    sent_at      TEXT
);
CREATE UNIQUE INDEX messages_campaign_contact_key ON messages (campaign_id, contact_id) WHERE kind = 'campaign';
CREATE INDEX messages_campaign_status_idx ON messages (campaign_id, status);
CREATE INDEX messages_account_idx ON messages (account_id, id);

CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    group_id      TEXT,
    payload       TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    status        TEXT NOT NULL,
    run_at        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    max_attempts  INTEGER NOT NULL,
    locked_until  TEXT,
    last_error    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX jobs_ready_idx ON jobs (status, priority, run_at);
CREATE INDEX jobs_group_idx ON jobs (group_id, status);

CREATE TABLE sandbox_messages (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    message_id  TEXT NOT NULL,
    to_email    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    headers     TEXT NOT NULL,
    html        TEXT,
    text_body   TEXT,
    raw         TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX sandbox_messages_account_idx ON sandbox_messages (account_id, id);

CREATE TABLE idempotency_keys (
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    endpoint      TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status_code   INTEGER NOT NULL,
    response      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (account_id, endpoint, idempotency_key)
);
