-- 8: the head of the log after every write transaction, signed by the release key.
CREATE TABLE log_heads (
    seq   INTEGER NOT NULL,
    keyid TEXT NOT NULL,
    hash  TEXT NOT NULL,
    sig   TEXT NOT NULL,
    PRIMARY KEY (seq, keyid)
) STRICT;
CREATE TRIGGER log_heads_no_update BEFORE UPDATE ON log_heads
    BEGIN SELECT RAISE(ABORT, 'signed log heads are append-only'); END;
CREATE TRIGGER log_heads_no_delete BEFORE DELETE ON log_heads
    BEGIN SELECT RAISE(ABORT, 'signed log heads are append-only'); END;
