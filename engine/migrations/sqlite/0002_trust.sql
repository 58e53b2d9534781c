-- Trust: nesting depth of child cases, incidents as rows (listed across
-- cases), the audit trail of reads of restricted cases, and markers for
-- one-off backfills done by the engine.
ALTER TABLE cases ADD COLUMN depth BIGINT NOT NULL DEFAULT 0;
CREATE INDEX cases_parent_token ON cases (parent_case, parent_token);

CREATE TABLE incidents (
    case_id BIGINT NOT NULL,
    token   BIGINT NOT NULL,
    process TEXT NOT NULL,
    step    TEXT NOT NULL,
    message TEXT NOT NULL,
    since   BIGINT NOT NULL,
    PRIMARY KEY (case_id, token)
);
CREATE INDEX incidents_process ON incidents (process, step, since);
CREATE INDEX incidents_since ON incidents (since);

CREATE TABLE audit (
    case_id BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    who     TEXT NOT NULL,
    what    TEXT NOT NULL
);
CREATE INDEX audit_case ON audit (case_id, at);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
