-- List imports: one row per uploaded CSV with its progress, and the file itself in chunks
-- until the import ends (it is personal data: deleted when the import completes or fails).
CREATE TABLE imports (
    id                  uuid PRIMARY KEY,
    account_id          uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    list_id             uuid NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    status              text NOT NULL,
    source              text,
    policy_version      text,
    size_bytes          bigint NOT NULL,
    mapped_columns      jsonb NOT NULL,
    ignored_columns     jsonb NOT NULL,
    -- Data rows processed so far; also where a resumed run carries on.
    rows_read           integer NOT NULL DEFAULT 0,
    created             integer NOT NULL DEFAULT 0,
    updated             integer NOT NULL DEFAULT 0,
    duplicates          integer NOT NULL DEFAULT 0,
    skipped_suppressed  integer NOT NULL DEFAULT 0,
    skipped_erased      integer NOT NULL DEFAULT 0,
    rejected            integer NOT NULL DEFAULT 0,
    rejections          jsonb NOT NULL,
    error               text,
    created_at          timestamptz NOT NULL,
    started_at          timestamptz,
    completed_at        timestamptz,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX imports_account_idx ON imports (account_id, id);
CREATE INDEX imports_list_idx ON imports (list_id, id);

CREATE TABLE import_chunks (
    import_id  uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (import_id, seq)
);
