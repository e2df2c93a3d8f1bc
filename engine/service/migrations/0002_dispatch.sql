-- Runs dispatched to the nodes of an integration runtime.
-- scans.ir_id: the runtime whose nodes run the scan; NULL: the service runs it itself.
-- runs.ir_id is copied at queue time, so the queue needs no join.
-- runs.node_id/node_name: who runs (ran) it; cancel_requested: a cancel the node has to pick up.
ALTER TABLE scans ADD COLUMN ir_id TEXT;
ALTER TABLE runs ADD COLUMN ir_id TEXT;
ALTER TABLE runs ADD COLUMN node_id TEXT;
ALTER TABLE runs ADD COLUMN node_name TEXT;
ALTER TABLE runs ADD COLUMN cancel_requested BIGINT NOT NULL DEFAULT 0;
CREATE INDEX runs_by_node ON runs (node_id, state);
