-- Surveyor service state. Portable SQL (TEXT, INTEGER, BIGINT, DOUBLE
-- PRECISION; no engine-specific syntax) so that PostgreSQL can back it too.
-- Times are milliseconds since the Unix epoch (BIGINT), except where noted.

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE integration_runtimes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    max_nodes INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

-- Two authentication keys per runtime (slots 1 and 2). key_hash (SHA-256)
-- authenticates; key_sealed (encrypted with the node-local key) lets an
-- administrator show the key again.
CREATE TABLE ir_keys (
    ir_id TEXT NOT NULL REFERENCES integration_runtimes (id),
    slot INTEGER NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (ir_id, slot)
);

CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    ir_id TEXT NOT NULL REFERENCES integration_runtimes (id),
    name TEXT NOT NULL,
    ip_address TEXT,
    url TEXT,
    version TEXT,
    credential_hash TEXT NOT NULL UNIQUE,
    registered_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT,
    running_jobs INTEGER NOT NULL DEFAULT 0,
    cpu_percent DOUBLE PRECISION,
    memory_used_bytes BIGINT,
    memory_total_bytes BIGINT,
    UNIQUE (ir_id, name)
);

-- A source's definition without its connection (definition), the connection
-- with secrets replaced (connection_redacted), and the whole connection
-- encrypted with the node-local key (connection_sealed).
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source_type TEXT NOT NULL,
    definition TEXT NOT NULL,
    connection_redacted TEXT NOT NULL,
    connection_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE scans (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source_id TEXT NOT NULL REFERENCES sources (id),
    scope TEXT NOT NULL,
    rule_set TEXT NOT NULL,
    trigger_definition TEXT NOT NULL,
    incremental INTEGER NOT NULL,
    next_run_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Run history outlives its scan (scan_name and source_name are copied).
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    scan_id TEXT NOT NULL,
    scan_name TEXT NOT NULL,
    source_name TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    queued_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    assets BIGINT NOT NULL DEFAULT 0,
    files BIGINT NOT NULL DEFAULT 0,
    schemas BIGINT NOT NULL DEFAULT 0,
    resource_sets BIGINT NOT NULL DEFAULT 0,
    entities BIGINT NOT NULL DEFAULT 0,
    item_errors BIGINT NOT NULL DEFAULT 0,
    bytes_read BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    location TEXT
);

CREATE INDEX runs_by_state ON runs (state, queued_at);
CREATE INDEX runs_by_scan ON runs (scan_id, queued_at);
CREATE INDEX runs_by_time ON runs (queued_at);
