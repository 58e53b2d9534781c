-- The dashboard's rows, so that a period's figures are counted by the
-- database instead of folded from every open case's history: each task's
-- life (opened, held, closed, the first notice to the mayor's office), each
-- escalation rung fired, and the instant a case ended. They are written from
-- the case's new events in the transaction that writes them (the engine
-- fills them for cases stored before this migration from their histories,
-- once, marked in `meta`). A case's searchable keys carry its process and
-- when it started and ended, so the cases by a searchable value are
-- counted from the keys' indexes alone.
CREATE TABLE task_log (
    case_id     BIGINT NOT NULL,
    task_id     BIGINT NOT NULL,
    process     TEXT NOT NULL,
    step        TEXT NOT NULL,
    role        TEXT,
    unit        TEXT,
    opened_at   BIGINT NOT NULL,
    due         BIGINT,
    -- Who holds it (the latest claim), and since when.
    holder      TEXT,
    claimed_at  BIGINT,
    -- `completed`, `cancelled`, or `ended` (its case ended around it).
    outcome     TEXT,
    closed_at   BIGINT,
    done_by     TEXT,
    notified_at BIGINT,
    PRIMARY KEY (case_id, task_id)
);
-- Holds every column the period's task figures read, so they are counted
-- from the index alone.
CREATE INDEX task_log_closed ON task_log (process, outcome, closed_at, step, opened_at, due, unit, role, done_by, holder);
CREATE INDEX task_log_notified ON task_log (process, notified_at) WHERE notified_at IS NOT NULL;

CREATE TABLE rungs (
    case_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    process TEXT NOT NULL,
    at      BIGINT NOT NULL,
    action  TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);
CREATE INDEX rungs_at ON rungs (process, at, action);

ALTER TABLE cases ADD COLUMN ended_at BIGINT;
CREATE INDEX cases_process_started ON cases (process, started_at, ended_at);
CREATE INDEX cases_process_ended ON cases (process, ended_at, started_at) WHERE ended_at IS NOT NULL;
CREATE INDEX cases_open ON cases (process) WHERE ended_at IS NULL;
-- The open work now by unit, role and person, from the index alone.
DROP INDEX tasks_load;
CREATE INDEX tasks_load ON tasks (process, unit, role, assignee, overdue);

ALTER TABLE case_keys ADD COLUMN process TEXT NOT NULL DEFAULT '';
ALTER TABLE case_keys ADD COLUMN started_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE case_keys ADD COLUMN ended_at BIGINT;
-- Data keys only: the steps a case is at change at nearly every command,
-- and no count reads them.
CREATE INDEX case_keys_started ON case_keys (process, key, started_at, value, ended_at) WHERE key <> 'stage';
CREATE INDEX case_keys_ended ON case_keys (process, key, ended_at, value, started_at) WHERE key <> 'stage' AND ended_at IS NOT NULL;
CREATE INDEX case_keys_open ON case_keys (process, key, value, ended_at) WHERE key <> 'stage' AND ended_at IS NULL;
