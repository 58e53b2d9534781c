-- Read models: open tasks and searchable case keys as their own indexed
-- rows, written in the transaction that writes the case (the engine fills
-- them for cases stored before this migration, once, marked in `meta`);
-- a position for every event, in commit order, for the events feed.
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

-- An index here holds the rowid (the case id) after its columns, so these
-- give pages newest first; status is left out of them, so a case's change
-- of status does not rewrite them (`cases_status` has it).
CREATE INDEX cases_process ON cases (process);
CREATE INDEX cases_started ON cases (started_at);

-- SQLite has one writer, so keys drawn at insert are in commit order: the
-- events table is rebuilt with its position as its INTEGER PRIMARY KEY
-- (the largest plus one; VACUUM keeps it; events are never deleted, so a
-- position is never drawn twice). Events written before are numbered in
-- the order they were written; `tx` is always 0 here.
CREATE TABLE events_new (
    pos     INTEGER PRIMARY KEY,
    tx      BIGINT NOT NULL DEFAULT 0,
    case_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    body    TEXT NOT NULL
);
INSERT INTO events_new (case_id, seq, at, kind, body)
    SELECT case_id, seq, at, kind, body FROM events ORDER BY rowid;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE UNIQUE INDEX events_case_seq ON events (case_id, seq);

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
    id INTEGER PRIMARY KEY AUTOINCREMENT,
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
