-- Read models: open tasks and searchable case keys as their own indexed
-- rows, written in the transaction that writes the case (the engine fills
-- them for cases stored before this migration, once, marked in `meta`);
-- a position for every event, for the events feed in commit order.
CREATE TABLE tasks (
    case_id    BIGINT NOT NULL,
    task_id    BIGINT NOT NULL,
    process    TEXT NOT NULL,
    version    BIGINT NOT NULL,
    step       TEXT NOT NULL,
    title      TEXT NOT NULL,
    role       TEXT,
    unit       TEXT,
    assignee   TEXT,
    created_at BIGINT NOT NULL,
    due        BIGINT,
    -- `due`, or the largest integer when there is none: sorts last.
    due_key    BIGINT NOT NULL,
    due_text   TEXT,
    overdue    BIGINT NOT NULL,
    PRIMARY KEY (case_id, task_id)
);
CREATE INDEX tasks_due ON tasks (due_key, case_id, task_id);
CREATE INDEX tasks_process ON tasks (process, due_key, case_id, task_id);
CREATE INDEX tasks_role ON tasks (role, due_key, case_id, task_id);
CREATE INDEX tasks_assignee ON tasks (assignee, due_key, case_id, task_id);
CREATE INDEX tasks_unit ON tasks (unit, due_key, case_id, task_id);
CREATE INDEX tasks_overdue ON tasks (due_key, case_id, task_id) WHERE overdue = 1;

-- A case's searchable keys: `stage` (a step it is at) and `data.NAME` (a
-- variable its process declares `searchable`).
CREATE TABLE case_keys (
    case_id BIGINT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL
);
CREATE INDEX case_keys_value ON case_keys (key, value, case_id);
CREATE INDEX case_keys_case ON case_keys (case_id);

CREATE INDEX cases_process ON cases (process, id);
CREATE INDEX cases_started ON cases (started_at, id);
CREATE INDEX cases_status_id ON cases (status, id);

-- Events in commit order across nodes: `tx` is the writing transaction's
-- id and `pos` a sequence within it; the feed shows only transactions older
-- than every one still running (the snapshot's xmin), so a consumer never
-- sees a later transaction's events before an earlier one's become
-- visible. Events written before are numbered by time, with tx 0.
CREATE SEQUENCE events_pos_seq;
ALTER TABLE events ADD COLUMN tx BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN pos BIGINT;
UPDATE events e SET pos = o.n
  FROM (SELECT case_id, seq, row_number() OVER (ORDER BY at, case_id, seq) AS n FROM events) o
 WHERE e.case_id = o.case_id AND e.seq = o.seq;
SELECT setval('events_pos_seq', COALESCE((SELECT MAX(pos) FROM events), 0) + 1, false);
ALTER TABLE events ALTER COLUMN pos SET DEFAULT nextval('events_pos_seq');
ALTER TABLE events ALTER COLUMN pos SET NOT NULL;
ALTER TABLE events ALTER COLUMN tx SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE UNIQUE INDEX events_pos ON events (tx, pos);

-- Jobs: the open tasks of service steps that name a `topic`, for outside
-- workers. A row is added and removed with its task, in the case's
-- transaction; the lease and retry columns are the engine's own, kept while
-- the task stays open.
CREATE TABLE jobs (
    case_id    BIGINT NOT NULL,
    task_id    BIGINT NOT NULL,
    topic      TEXT NOT NULL,
    process    TEXT NOT NULL,
    role       TEXT,
    step       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Not offered before this instant (a retry's backoff).
    run_after  BIGINT NOT NULL,
    worker     TEXT,
    lock_until BIGINT,
    -- Retries left as the worker last said; NULL before its first failure.
    retries    BIGINT,
    failures   BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (case_id, task_id)
);
CREATE INDEX jobs_topic ON jobs (topic, run_after, case_id, task_id);

-- Webhook subscriptions. The outbox is the events table itself (written in
-- the case's transaction, in commit order); each subscription keeps its
-- cursor in the feed and is delivered in order, at least once, by one node
-- at a time (a short lease), with backoff after a failure.
CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    url          TEXT NOT NULL,
    kinds        TEXT NOT NULL,
    process      TEXT,
    secret       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    cursor_tx    BIGINT NOT NULL,
    cursor_pos   BIGINT NOT NULL,
    delivered    BIGINT NOT NULL DEFAULT 0,
    failures     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    lease_until  BIGINT NOT NULL DEFAULT 0
);
