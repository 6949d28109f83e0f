-- The event log is the one table written once per open and click, so what each row costs
-- to write is what tracking costs. Two per-row costs go (together ~6 µs of ~16 µs per row
-- copied in, measured on the development machine):
--
-- * The foreign key to accounts, whose check ran once per row. Its two guarantees are kept
--   once per batch and once per erasure instead: the events worker locks the accounts of a
--   batch (`FOR KEY SHARE`) and drops the events of accounts that are gone
--   (`events::record`), and the erasure of an account deletes its events again, under the
--   account row's lock, in the transaction that deletes the account (`retention::erasure`).
-- * The (account_id, occurred_at) index. Event ids are time-ordered (UUIDv7, minted where
--   the event happened, with its `occurred_at`), so the retention purge finds an account's
--   expired events by id on `events_account_idx` (`retention::purge`).
ALTER TABLE events DROP CONSTRAINT events_account_id_fkey;
DROP INDEX events_account_occurred_idx;
