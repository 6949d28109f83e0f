ALTER TABLE campaigns DROP COLUMN bounce_valve;
DROP INDEX suppressions_campaign_idx;
ALTER TABLE suppressions DROP COLUMN campaign_id;
DROP INDEX messages_soft_bounce_idx;
ALTER TABLE messages DROP COLUMN outcome_class;
