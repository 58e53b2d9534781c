-- The dashboard's rows, so that a period's figures are counted by the
-- database instead of folded from every open case's history: each task's
-- life (opened, held, closed, the first notice to the mayor's office), each
-- escalation rung fired, and the instant a case ended. They are written from
-- the case's new events in the transaction that writes them (the engine
-- fills them for cases stored before this migration from their histories,
-- once, marked in `meta`). A case's searchable keys carry its process and
-- whether it is open, so the open cases by a searchable value are counted
-- from one index.
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
CREATE INDEX task_log_closed ON task_log (process, outcome, closed_at);
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
CREATE INDEX cases_process_started ON cases (process, started_at);
CREATE INDEX cases_process_ended ON cases (process, ended_at) WHERE ended_at IS NOT NULL;

ALTER TABLE case_keys ADD COLUMN process TEXT NOT NULL DEFAULT '';
ALTER TABLE case_keys ADD COLUMN open BIGINT NOT NULL DEFAULT 0;
CREATE INDEX case_keys_open ON case_keys (process, key, value) WHERE open = 1;
-- A case's value of one key, for the dashboard's joins by a searchable
-- field (the old index by case alone is its prefix).
DROP INDEX case_keys_case;
CREATE INDEX case_keys_case ON case_keys (case_id, key, value);
