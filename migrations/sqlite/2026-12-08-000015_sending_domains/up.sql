-- Sending domains: a domain an account proves it owns (DNS records) before it may send
-- from it, with the DKIM key pair Mailroom signs its mail with. The private key is sealed
-- (as webhook secrets are) and goes with the row.
CREATE TABLE sending_domains (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain           TEXT NOT NULL,
    status           TEXT NOT NULL,
    ownership_token  TEXT NOT NULL,
    dkim_selector    TEXT NOT NULL,
    dkim_algorithm   TEXT NOT NULL,
    dkim_public_key  TEXT NOT NULL,
    dkim_private_key TEXT NOT NULL,
    last_check       TEXT,
    checked_at       TEXT,
    verified_at      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT sending_domains_once UNIQUE (account_id, domain)
);
