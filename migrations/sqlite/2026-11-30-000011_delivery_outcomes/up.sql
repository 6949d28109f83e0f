-- Delivery outcomes classified by enhanced status code (RFC 3463); as on PostgreSQL (see
-- that migration for what each column is for).
ALTER TABLE messages ADD COLUMN outcome_class TEXT;
CREATE INDEX messages_soft_bounce_idx ON messages (account_id, to_email)
    WHERE outcome_class = 'soft_bounce';
ALTER TABLE suppressions ADD COLUMN campaign_id TEXT;
CREATE INDEX suppressions_campaign_idx ON suppressions (account_id, campaign_id)
    WHERE campaign_id IS NOT NULL;
ALTER TABLE campaigns ADD COLUMN bounce_valve TEXT NOT NULL DEFAULT 'armed';
