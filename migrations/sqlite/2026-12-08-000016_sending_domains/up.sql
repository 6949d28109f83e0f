-- Sending domains: a domain an account proves it owns (DNS records) before it may send
-- from it, with the DKIM key pair Mailroom signs its mail with. The private key is sealed
-- (as webhook secrets are) and goes with the row. A rotation adds a next key, published
-- beside the current one until a check finds it; the key it replaces stays listed (public
-- half only) so that receivers can still verify mail signed with it.
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
    next_dkim_selector      TEXT,
    next_dkim_algorithm     TEXT,
    next_dkim_public_key    TEXT,
    next_dkim_private_key   TEXT,
    previous_dkim_selector  TEXT,
    previous_dkim_algorithm TEXT,
    previous_dkim_public_key TEXT,
    default_from_name TEXT,
    default_reply_to TEXT,
    last_check       TEXT,
    checked_at       TEXT,
    verified_at      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT sending_domains_once UNIQUE (account_id, domain)
);
