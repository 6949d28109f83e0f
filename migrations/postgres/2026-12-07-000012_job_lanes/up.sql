-- Fair work: every job runs in a lane by kind (its own worker slots), and inside a lane the
-- accounts take turns. A job names its lane and the account it works for; installation-wide
-- work (the retention purge) and jobs written before this migration carry the nil account.
ALTER TABLE jobs ADD COLUMN lane text NOT NULL DEFAULT 'jobs';
ALTER TABLE jobs ADD COLUMN account_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000';
UPDATE jobs SET lane = CASE
    WHEN kind = 'message.deliver' AND priority >= 10 THEN 'transactional'
    WHEN kind IN ('message.deliver', 'campaign.dispatch') THEN 'campaigns'
    WHEN kind = 'events.record' THEN 'events'
    WHEN kind = 'webhook.deliver' THEN 'webhooks'
    ELSE 'jobs'
END;
-- A lane's claim: the next account after the last one served, then its most urgent job
-- (`JobRow::claim_in`). Same literal predicate as `jobs_active_idx`.
CREATE INDEX jobs_lane_turn_idx ON jobs (lane, account_id, priority DESC, run_at)
    WHERE status IN ('pending', 'running', 'relaying');
