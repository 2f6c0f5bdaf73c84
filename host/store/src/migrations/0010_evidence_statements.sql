-- 10: evidence is stored once per statement (what its signatures sign);
-- the open that runs this fills the column for earlier rows.
ALTER TABLE evidence ADD COLUMN statement TEXT;
CREATE INDEX evidence_statement ON evidence(statement);
