-- The event log's key becomes (account_id, id), and the (account_id, id) index beside it
-- goes: one index fewer to write per open and click (~0.5–1 µs of ~5 µs per row copied
-- in, measured on the development machine).
--
-- Every read of the log is an account's: listing and paging (`events::query`, by id within
-- the account), the retention purge (the account's lowest ids) and erasure (the account's
-- events of a person) all name the account, and the key serves them as the index did.
-- Recording a batch twice still records each event once: an event's account is its
-- message's, so a replayed event collides with itself on the key (`events::record`).
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY (account_id, id);
DROP INDEX events_account_idx;
