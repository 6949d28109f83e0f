-- Consent ledger, suppressions, campaigns, messages, the job table (queue and outbox),
-- the sandbox mailbox and stored idempotent responses.
CREATE TABLE consents (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    contact_id      uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    list_id         uuid,
    purpose         text NOT NULL,
    status          text NOT NULL,
    method          text NOT NULL,
    source          text,
    ip              text,
    user_agent      text,
    policy_version  text,
    evidence        jsonb,
    created_at      timestamptz NOT NULL
);
CREATE INDEX consents_contact_idx ON consents (contact_id, purpose, created_at);

CREATE TABLE suppressions (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email       text,
    email_hash  text NOT NULL,
    reason      text NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL,
    CONSTRAINT suppressions_account_hash_key UNIQUE (account_id, email_hash)
);
CREATE INDEX suppressions_account_idx ON suppressions (account_id, id);

CREATE TABLE campaigns (
    id                    uuid PRIMARY KEY,
    account_id            uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    subject               text NOT NULL,
    from_email            text NOT NULL,
    from_name             text,
    reply_to              text,
    html                  text NOT NULL,
    text_body             text,
    list_ids              jsonb NOT NULL,
    status                text NOT NULL,
    send_at               timestamptz,
    started_at            timestamptz,
    completed_at          timestamptz,
    paused_reason         text,
    dispatched_at         timestamptz,
    recipients            integer NOT NULL,
    consecutive_failures  integer NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
);
CREATE INDEX campaigns_account_idx ON campaigns (account_id, id);

CREATE TABLE messages (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    campaign_id  uuid REFERENCES campaigns (id) ON DELETE CASCADE,
    contact_id   uuid REFERENCES contacts (id) ON DELETE SET NULL,
    list_id      uuid,
    kind         text NOT NULL,
    to_email     text NOT NULL,
    to_name      text,
    subject      text,
    payload      jsonb,
    custom_id    text,
    status       text NOT NULL,
    attempts     integer NOT NULL,
    last_error   text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    sent_at      timestamptz
);
CREATE UNIQUE INDEX messages_campaign_contact_key ON messages (campaign_id, contact_id) WHERE kind = 'campaign';
CREATE INDEX messages_campaign_status_idx ON messages (campaign_id, status);
CREATE INDEX messages_account_idx ON messages (account_id, id);

CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    kind          text NOT NULL,
    group_id      uuid,
    payload       jsonb NOT NULL,
    priority      integer NOT NULL,
    status        text NOT NULL,
    run_at        timestamptz NOT NULL,
    attempts      integer NOT NULL,
    max_attempts  integer NOT NULL,
    locked_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX jobs_ready_idx ON jobs (status, priority, run_at);
CREATE INDEX jobs_group_idx ON jobs (group_id, status);

CREATE TABLE sandbox_messages (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    message_id  uuid NOT NULL,
    to_email    text NOT NULL,
    subject     text NOT NULL,
    headers     jsonb NOT NULL,
    html        text,
    text_body   text,
    raw         text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX sandbox_messages_account_idx ON sandbox_messages (account_id, id);

CREATE TABLE idempotency_keys (
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    endpoint      text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash  text NOT NULL,
    status_code   integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (account_id, endpoint, idempotency_key)
);
