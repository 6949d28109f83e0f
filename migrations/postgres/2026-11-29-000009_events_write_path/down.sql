CREATE INDEX events_account_occurred_idx ON events (account_id, occurred_at);
DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE accounts.id = events.account_id);
ALTER TABLE events ADD CONSTRAINT events_account_id_fkey
    FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
