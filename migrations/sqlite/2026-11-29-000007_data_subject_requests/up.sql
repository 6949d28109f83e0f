-- Data-subject requests (GDPR rights), their exports, and restriction of processing.
CREATE TABLE data_subject_requests (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL,
    -- NULL once the subject's data was erased; the keyed hash stays.
    subject_email    TEXT,
    subject_hash     TEXT NOT NULL,
    verification     TEXT,
    changes          TEXT,
    outcome          TEXT,
    rejection_reason TEXT,
    received_at      TEXT NOT NULL,
    due_at           TEXT NOT NULL,
    verified_at      TEXT,
    processing_at    TEXT,
    completed_at     TEXT,
    rejected_at      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX data_subject_requests_account_idx ON data_subject_requests (account_id, id);
CREATE INDEX data_subject_requests_due_idx ON data_subject_requests (account_id, status, due_at);
CREATE INDEX data_subject_requests_subject_idx ON data_subject_requests (account_id, subject_hash);

CREATE TABLE data_subject_exports (
    request_id  TEXT PRIMARY KEY REFERENCES data_subject_requests (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    document    TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX data_subject_exports_account_idx ON data_subject_exports (account_id, created_at);

-- Restriction of processing: kept, but neither mailed nor tracked while set.
ALTER TABLE contacts ADD COLUMN restricted_at TEXT;
