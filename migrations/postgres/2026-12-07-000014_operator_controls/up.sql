-- Operator controls: an account can be suspended (it sends nothing until resumed) and held
-- to sending limits per hour and per day (NULL: the installation's default).
ALTER TABLE accounts ADD COLUMN status text NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN suspended_reason text;
ALTER TABLE accounts ADD COLUMN suspended_at timestamptz;
ALTER TABLE accounts ADD COLUMN suspended_by text;
ALTER TABLE accounts ADD COLUMN messages_per_hour integer;
ALTER TABLE accounts ADD COLUMN messages_per_day integer;
CREATE INDEX accounts_status_idx ON accounts (status, id);

-- Messages an account handed to delivery in one window (an hour or a UTC day), shared by
-- every sender process: a slot is taken by a conditional increment that never passes the
-- limit.
CREATE TABLE account_send_windows (
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    period      text NOT NULL,
    starts_at   timestamptz NOT NULL,
    sent        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, period, starts_at)
);

-- Until when a sending campaign waits for its account's next sending window.
ALTER TABLE campaigns ADD COLUMN quota_wait_until timestamptz;

-- Automatic suspensions the operator is to be told of (`MAILROOM_OPERATOR_WEBHOOK_URL`):
-- written with the suspension, delivered and marked by whichever worker gets to it first.
CREATE TABLE operator_alerts (
    id              uuid PRIMARY KEY,
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    reason          text NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    last_error      text
);
CREATE INDEX operator_alerts_due_idx ON operator_alerts (next_attempt_at) WHERE delivered_at IS NULL;
