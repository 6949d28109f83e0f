-- Accounts, API keys, contacts with typed properties, lists and their members.
CREATE TABLE accounts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         text NOT NULL,
    secret_hash  text NOT NULL,
    scopes       jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, id);

CREATE TABLE contact_properties (
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           text NOT NULL,
    property_type  text NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, name)
);

CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    email       text NOT NULL,
    name        text,
    properties  jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT contacts_account_email_key UNIQUE (account_id, email)
);
CREATE INDEX contacts_account_idx ON contacts (account_id, id);

CREATE TABLE lists (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           text NOT NULL,
    description    text,
    double_opt_in  boolean NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX lists_account_idx ON lists (account_id, id);

CREATE TABLE list_members (
    list_id          uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    contact_id       uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    status           text NOT NULL,
    subscribed_at    timestamptz,
    unsubscribed_at  timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (list_id, contact_id)
);
CREATE INDEX list_members_contact_idx ON list_members (contact_id);
CREATE INDEX list_members_status_idx ON list_members (list_id, status, contact_id);
