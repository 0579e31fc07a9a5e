-- A refresh rotation is one statement. On PostgreSQL it is a data-modifying WITH query in
-- the store (the parent's UPDATE takes its row lock, then the INSERT and the grant's touch
-- follow), so no trigger is needed here; SQLite's 0004 adds one. Recorded for the reader:
COMMENT ON COLUMN refresh_tokens.successor_hash IS
    'Hash of the token this one was rotated into; set in the statement that stores it';
