DROP INDEX jobs_active_idx;
DROP INDEX messages_campaign_open_idx;
