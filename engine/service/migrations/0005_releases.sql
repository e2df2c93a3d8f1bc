-- Releases and rolling updates of nodes (docs/service.md, "Releases and
-- rolling updates"). A release's binary is the blob 'release/<version>' in
-- blob_parts, so that every replica on one PostgreSQL serves it. The public
-- half of the key that signs releases is the setting 'release_public_key'.
CREATE TABLE releases (
    version TEXT PRIMARY KEY,
    -- SHA-256 of the binary, lowercase hex.
    sha256 TEXT NOT NULL,
    -- Ed25519 signature (base64) of "surveyor-release\n<version>\n<sha256>\n".
    signature TEXT NOT NULL,
    size BIGINT NOT NULL,
    -- The platform the binary is for: x86_64-linux, aarch64-linux.
    platform TEXT NOT NULL,
    published_at BIGINT NOT NULL
);

-- An integration runtime's update policy: 'auto' (with an optional daily
-- maintenance window, JSON) or 'manual'.
ALTER TABLE integration_runtimes ADD COLUMN update_mode TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE integration_runtimes ADD COLUMN update_window TEXT;

-- A rollout of one release to one runtime's nodes, one node at a time.
-- state: in_progress, succeeded, failed. from_version: the version the
-- nodes shared when it started. current_node: the node that has the go
-- (set by compare-and-set, so that one node at a time updates, whichever
-- replica answers its heartbeat).
CREATE TABLE rollouts (
    ir_id TEXT NOT NULL,
    version TEXT NOT NULL,
    from_version TEXT,
    current_node TEXT,
    state TEXT NOT NULL,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (ir_id, version)
);

-- A node's step of a rollout. state: in_progress (the node has the go),
-- succeeded (it came back on the new version), failed (it refused the
-- release or rolled back).
CREATE TABLE rollout_steps (
    ir_id TEXT NOT NULL,
    version TEXT NOT NULL,
    node_id TEXT NOT NULL,
    node_name TEXT NOT NULL,
    state TEXT NOT NULL,
    error TEXT,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (ir_id, version, node_id)
);
