-- Delivery outcomes classified by enhanced status code (RFC 3463).
--
-- A message remembers the class of the answer that closed it (or is retrying it):
-- hard_bounce, soft_bounce or blocked. An address's soft bounces are counted across
-- campaigns from these (`outcomes::record`), read through a partial index that holds only
-- soft-bounced messages, so sent mail costs the index nothing.
ALTER TABLE messages ADD COLUMN outcome_class text;
CREATE INDEX messages_soft_bounce_idx ON messages (account_id, to_email)
    WHERE outcome_class = 'soft_bounce';
-- The campaign whose delivery outcome created a suppression, so that an operator can
-- review and undo what one campaign suppressed.
ALTER TABLE suppressions ADD COLUMN campaign_id uuid;
CREATE INDEX suppressions_campaign_idx ON suppressions (account_id, campaign_id)
    WHERE campaign_id IS NOT NULL;
-- The hard-bounce safety valve of a campaign: armed, tripped (paused; its hard bounces
-- suppress nothing until resumed) or released (resumed after a trip).
ALTER TABLE campaigns ADD COLUMN bounce_valve text NOT NULL DEFAULT 'armed';
