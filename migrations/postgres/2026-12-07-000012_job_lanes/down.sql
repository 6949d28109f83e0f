DROP INDEX jobs_lane_turn_idx;
ALTER TABLE jobs DROP COLUMN account_id;
ALTER TABLE jobs DROP COLUMN lane;
