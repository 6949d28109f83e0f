-- Accounts, API keys, contacts with typed properties, lists and their members.
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, id);

CREATE TABLE contact_properties (
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    property_type  TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    name        TEXT,
    properties  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    CONSTRAINT contacts_account_email_key UNIQUE (account_id, email)
);
CREATE INDEX contacts_account_idx ON contacts (account_id, id);

CREATE TABLE lists (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    description    TEXT,
    double_opt_in  INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX lists_account_idx ON lists (account_id, id);

CREATE TABLE list_members (
    list_id          TEXT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    contact_id       TEXT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status           TEXT NOT NULL,
    subscribed_at    TEXT,
    unsubscribed_at  TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact_idx ON list_members (contact_id);
CREATE INDEX list_members_status_idx ON list_members (list_id, status, contact_id);
