-- List imports: one row per uploaded CSV with its progress, and the file itself in chunks
-- until the import ends (it is personal data: deleted when the import completes or fails).
CREATE TABLE imports (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    list_id             TEXT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    status              TEXT NOT NULL,
    source              TEXT,
    policy_version      TEXT,
    size_bytes          INTEGER NOT NULL,
    mapped_columns      TEXT NOT NULL,
    ignored_columns     TEXT NOT NULL,
    -- Data rows processed so far; also where a resumed run carries on.
    rows_read           INTEGER NOT NULL DEFAULT 0,
    created             INTEGER NOT NULL DEFAULT 0,
    updated             INTEGER NOT NULL DEFAULT 0,
    duplicates          INTEGER NOT NULL DEFAULT 0,
    skipped_suppressed  INTEGER NOT NULL DEFAULT 0,
    skipped_erased      INTEGER NOT NULL DEFAULT 0,
    rejected            INTEGER NOT NULL DEFAULT 0,
    rejections          TEXT NOT NULL,
    error               TEXT,
    created_at          TEXT NOT NULL,
    started_at          TEXT,
    completed_at        TEXT,
    updated_at          TEXT NOT NULL
);
CREATE INDEX imports_account_idx ON imports (account_id, id);
CREATE INDEX imports_list_idx ON imports (list_id, id);

CREATE TABLE import_chunks (
    import_id  TEXT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (import_id, seq)
);
