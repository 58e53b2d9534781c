-- Ravand's store, SQLite. Times are seconds since the Unix epoch (UTC);
-- states and events are JSON text.
CREATE TABLE calendars (
    name        TEXT PRIMARY KEY,
    source      TEXT NOT NULL
);

CREATE TABLE definitions (
    process     TEXT NOT NULL,
    version     BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    name        TEXT NOT NULL,
    source      TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    PRIMARY KEY (process, version)
);

CREATE TABLE cases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    process       TEXT NOT NULL,
    version       BIGINT NOT NULL,
    status        TEXT NOT NULL,
    tracking_code TEXT NOT NULL UNIQUE,
    parent_case   BIGINT,
    parent_token  BIGINT,
    seq           BIGINT NOT NULL,
    state         TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX cases_status ON cases (status);
CREATE INDEX cases_parent ON cases (parent_case);

CREATE TABLE events (
    case_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE timers (
    case_id  BIGINT NOT NULL,
    timer_id BIGINT NOT NULL,
    due      BIGINT NOT NULL,
    PRIMARY KEY (case_id, timer_id)
);
CREATE INDEX timers_due ON timers (due);

CREATE TABLE subscriptions (
    case_id BIGINT NOT NULL,
    sub_id  BIGINT NOT NULL,
    message TEXT NOT NULL,
    key     TEXT,
    PRIMARY KEY (case_id, sub_id)
);
CREATE INDEX subscriptions_message ON subscriptions (message, key);

CREATE TABLE schedules (
    process TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    due     BIGINT NOT NULL,
    n       BIGINT NOT NULL
);
