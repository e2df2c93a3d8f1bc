-- Work units (docs/service.md, "Runs, units and results"): a run of a
-- storage source is planned (unit 0, the plan) into slices of its listing
-- (units 1…), each claimed by a node of the scan's integration runtime (or
-- by the service, ir_id NULL, node_id 'service') under a lease that its
-- heartbeats renew. A unit's result waits in blob_parts until the commit
-- merges the run's units; a run commits once, then its results are deleted.
CREATE TABLE run_units (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    -- The slice (JSON UnitSpec); '{}' for the plan.
    spec TEXT NOT NULL,
    -- queued, in_progress, done.
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    ir_id TEXT,
    node_id TEXT,
    node_name TEXT,
    lease_until BIGINT,
    planned_files BIGINT NOT NULL DEFAULT 0,
    -- completed, failed or canceled, once done.
    outcome TEXT,
    files BIGINT NOT NULL DEFAULT 0,
    schemas BIGINT NOT NULL DEFAULT 0,
    reads BIGINT NOT NULL DEFAULT 0,
    item_errors BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX run_units_queue ON run_units (state, ir_id, run_id, seq);
CREATE INDEX run_units_by_node ON run_units (node_id, state);

-- Large values in parts of at most 1 MiB: unit results, sources' states.
CREATE TABLE blob_parts (
    name TEXT NOT NULL,
    part INTEGER NOT NULL,
    bytes BYTEA NOT NULL,
    PRIMARY KEY (name, part)
);

-- The assets of committed runs, for GET /v1/runs/{id}/assets.
CREATE TABLE run_assets (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    type_name TEXT NOT NULL,
    qualified_name TEXT NOT NULL,
    name TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- Where an integration runtime's runs are written (the sink of
-- `surveyor scan --sink`); none: the service's own output folder.
CREATE TABLE ingestion_targets (
    ir_id TEXT PRIMARY KEY REFERENCES integration_runtimes (id),
    definition_redacted TEXT NOT NULL,
    definition_sealed TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- runs.settings: what the run's units and commit share, frozen when the
-- run starts (JSON, no secrets). runs.plan_cursor: where a plan taken over
-- resumes; runs.root_uri: the source's root as the plan saw it, for every
-- unit. runs.planned: every unit is known. runs.report: report.json.
ALTER TABLE runs ADD COLUMN settings TEXT;
ALTER TABLE runs ADD COLUMN root_uri TEXT;
ALTER TABLE runs ADD COLUMN plan_cursor TEXT;
ALTER TABLE runs ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN report TEXT;
