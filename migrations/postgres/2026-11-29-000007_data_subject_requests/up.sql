-- Data-subject requests (GDPR rights), their exports, and restriction of processing.
CREATE TABLE data_subject_requests (
    id               uuid PRIMARY KEY,
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             text NOT NULL,
    status           text NOT NULL,
    -- NULL once the subject's data was erased; the keyed hash stays.
    subject_email    text,
    subject_hash     text NOT NULL,
    verification     jsonb,
    changes          jsonb,
    outcome          jsonb,
    rejection_reason text,
    received_at      timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    verified_at      timestamptz,
    processing_at    timestamptz,
    completed_at     timestamptz,
    rejected_at      timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX data_subject_requests_account_idx ON data_subject_requests (account_id, id);
CREATE INDEX data_subject_requests_due_idx ON data_subject_requests (account_id, status, due_at);
CREATE INDEX data_subject_requests_subject_idx ON data_subject_requests (account_id, subject_hash);

CREATE TABLE data_subject_exports (
    request_id  uuid PRIMARY KEY REFERENCES data_subject_requests (id) ON DELETE CASCADE,
    account_id  uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    document    jsonb NOT NULL,
    size_bytes  bigint NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX data_subject_exports_account_idx ON data_subject_exports (account_id, created_at);

-- Restriction of processing: kept, but neither mailed nor tracked while set.
ALTER TABLE contacts ADD COLUMN restricted_at timestamptz;
