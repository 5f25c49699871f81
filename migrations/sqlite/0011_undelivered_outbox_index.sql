-- The undelivered outbox rows by id, as PostgreSQL has them: the index held an entry for every
-- delivered row too (they stay until `keep_delivered_hours` prunes them), which no query
-- looks up; every query of undelivered rows names `delivered_at IS NULL`, so it uses this one.
-- A migration, once applied anywhere, is never edited: add a new file instead.

DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
