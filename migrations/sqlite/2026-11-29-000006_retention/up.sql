-- Retention: how long an account keeps events, message content and logs, data-subject
-- request exports and webhook delivery logs (days; the purge job removes what is older),
-- and the account's own deletion (requested at, erased at the due time unless cancelled).
ALTER TABLE accounts ADD COLUMN retention_events_days INTEGER NOT NULL DEFAULT 395;
ALTER TABLE accounts ADD COLUMN retention_messages_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE accounts ADD COLUMN retention_dsr_exports_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE accounts ADD COLUMN retention_webhook_deliveries_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE accounts ADD COLUMN deletion_requested_at TEXT;
ALTER TABLE accounts ADD COLUMN deletion_due_at TEXT;

-- A message whose content (recipient, subject, body, relay answers) the purge removed;
-- its status stays, so campaign progress keeps counting it.
ALTER TABLE messages ADD COLUMN content_purged_at TEXT;

CREATE INDEX events_account_occurred_idx ON events (account_id, occurred_at);
CREATE INDEX messages_account_created_idx ON messages (account_id, created_at);
CREATE INDEX sandbox_messages_account_created_idx ON sandbox_messages (account_id, created_at);
CREATE INDEX webhook_deliveries_account_created_idx ON webhook_deliveries (account_id, created_at);
CREATE INDEX inbound_reports_account_created_idx ON inbound_reports (account_id, created_at);
CREATE INDEX jobs_finished_idx ON jobs (status, updated_at);
