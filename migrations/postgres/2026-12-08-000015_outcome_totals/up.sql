-- What became of the installation's messages, ever: sent, bounced, complained, blocked.
-- Counted when their events are recorded (each event once), never purged with them, so
-- `/metrics` can expose true counters. A few shards per outcome keep concurrent events
-- workers from queueing on one row; a scrape sums them.
CREATE TABLE outcome_totals (
    outcome text NOT NULL,
    shard   integer NOT NULL,
    total   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (outcome, shard)
);
