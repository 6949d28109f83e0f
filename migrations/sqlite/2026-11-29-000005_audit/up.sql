-- The append-only audit log, and the account's grant of time-limited support access.
ALTER TABLE accounts ADD COLUMN support_access_until TEXT;

CREATE TABLE audit_events (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    actor_type     TEXT NOT NULL,
    actor_id       TEXT,
    action         TEXT NOT NULL,
    resource_type  TEXT NOT NULL,
    resource_id    TEXT,
    ip             TEXT,
    details        TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, id);
