-- 11: where the activity log switched to RFC 8785 (JCS) for event hashes.
-- Written once, by this migration: a new log hashes every event over JCS
-- (from seq 1); a log written before keeps its hashes, and its next event
-- is the first hashed over JCS.
CREATE TABLE log_format (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    canonicalization TEXT NOT NULL CHECK (canonicalization = 'rfc8785'),
    from_seq       INTEGER NOT NULL CHECK (from_seq >= 1)
) STRICT;
INSERT INTO log_format (id, canonicalization, from_seq)
    SELECT 1, 'rfc8785', coalesce(max(seq), 0) + 1 FROM activity;
CREATE TRIGGER log_format_no_update BEFORE UPDATE ON log_format
    BEGIN SELECT RAISE(ABORT, 'the log format is recorded once'); END;
CREATE TRIGGER log_format_no_delete BEFORE DELETE ON log_format
    BEGIN SELECT RAISE(ABORT, 'the log format is recorded once'); END;
