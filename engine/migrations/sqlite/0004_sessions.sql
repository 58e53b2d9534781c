-- The console's sessions: a signed-in member of staff. The id itself is
-- only in the person's cookie; the row holds its SHA-256. `subject` is what
-- the session stands for (a token's SHA-256, or the identity provider's
-- verified claims), as the service wrote it; `csrf` is the secret every
-- form of the session carries. Rows past `expires_at` are refused and
-- swept.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
