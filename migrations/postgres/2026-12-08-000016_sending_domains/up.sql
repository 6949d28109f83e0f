-- Sending domains: a domain an account proves it owns (DNS records) before it may send
-- from it, with the DKIM key pair Mailroom signs its mail with. The private key is sealed
-- (as webhook secrets are) and goes with the row. A rotation adds a next key, published
-- beside the current one until a check finds it; the key it replaces stays listed (public
-- half only) so that receivers can still verify mail signed with it.
CREATE TABLE sending_domains (
    id               uuid PRIMARY KEY,
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    domain           text NOT NULL,
    status           text NOT NULL,
    ownership_token  text NOT NULL,
    dkim_selector    text NOT NULL,
    dkim_algorithm   text NOT NULL,
    dkim_public_key  text NOT NULL,
    dkim_private_key text NOT NULL,
    next_dkim_selector      text,
    next_dkim_algorithm     text,
    next_dkim_public_key    text,
    next_dkim_private_key   text,
    previous_dkim_selector  text,
    previous_dkim_algorithm text,
    previous_dkim_public_key text,
    default_from_name text,
    default_reply_to text,
    last_check       jsonb,
    checked_at       timestamptz,
    verified_at      timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT sending_domains_once UNIQUE (account_id, domain)
);
