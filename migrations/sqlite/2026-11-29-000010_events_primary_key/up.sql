-- The event log keyed by (account_id, id), without the (account_id, id) index beside it,
-- as on PostgreSQL (see that migration for why). SQLite cannot change a primary key, so
-- the table is rebuilt; no table refers to it.
CREATE TABLE events_rebuilt (
    id            TEXT NOT NULL,
    account_id    TEXT NOT NULL,
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
    created_at    TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
INSERT INTO events_rebuilt
    SELECT id, account_id, type, message_id, campaign_id, contact_id, email, custom_id, url,
           ip, user_agent, bounce_class, diagnostic, source, occurred_at, created_at
    FROM events;
DROP TABLE events;
ALTER TABLE events_rebuilt RENAME TO events;
CREATE INDEX events_campaign_idx ON events (campaign_id, type);
CREATE INDEX events_message_idx ON events (message_id);
