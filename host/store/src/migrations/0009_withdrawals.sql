-- 9: signed withdrawals of Trusted Releases (written with the rollback).
CREATE TABLE withdrawals (
    application TEXT NOT NULL,
    version     TEXT NOT NULL,
    envelope    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (application, version)
) STRICT;
