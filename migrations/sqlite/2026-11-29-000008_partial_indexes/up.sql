-- Partial indexes for the two hot questions of sending, which must not get slower as sent
-- messages and finished jobs pile up. Both are queried with these literal predicates, so
-- that both backends' planners can use them.
--
-- The open messages of a campaign (queued, sending, deferred), which decide when it is
-- done (`Message::any_open_in_campaign`).
CREATE INDEX messages_campaign_open_idx ON messages (campaign_id)
    WHERE kind = 'campaign' AND status IN ('queued', 'sending', 'deferred');
-- The jobs still to run or to relay, in the order they are taken (`JobRow::claim`,
-- `JobRow::take_for_relay`); published and finished jobs stay out of it.
CREATE INDEX jobs_active_idx ON jobs (priority DESC, run_at)
    WHERE status IN ('pending', 'running', 'relaying');
