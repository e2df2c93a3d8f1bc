-- Run history listings stay index walks with 10,000s of runs (see
-- BENCHMARKS.md, "Service API"): newest first, by scan name, by state.
CREATE INDEX runs_by_time_id ON runs (queued_at, id);
CREATE INDEX runs_by_scan_name ON runs (scan_name, queued_at, id);
CREATE INDEX runs_by_state_time ON runs (state, queued_at, id);
