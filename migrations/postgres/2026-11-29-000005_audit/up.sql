-- The append-only audit log, and the account's grant of time-limited support access.
ALTER TABLE accounts ADD COLUMN support_access_until timestamptz;

CREATE TABLE audit_events (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    actor_type     text NOT NULL,
    actor_id       text,
    action         text NOT NULL,
    resource_type  text NOT NULL,
    resource_id    text,
    ip             text,
    details        jsonb,
    created_at     timestamptz NOT NULL
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, id);
