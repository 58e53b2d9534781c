-- Idempotency keys of starts. A client that lost the answer to a start (the
-- node died after the commit, the connection dropped) sends the same
-- `Idempotency-Key` again and is given the case it started, not a second
-- one. Written in the start's own transaction, so a key is taken exactly
-- when its case exists; scoped to who started (two systems may use the
-- same key); kept as long as the case. `digest` is the request's (process
-- and data), so a key sent again with another request is refused.
CREATE TABLE start_keys (
    owner      TEXT NOT NULL,
    idem_key   TEXT NOT NULL,
    digest     TEXT NOT NULL,
    case_id    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner, idem_key)
);
