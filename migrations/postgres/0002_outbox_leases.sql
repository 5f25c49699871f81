-- Outbox row leases: several bot processes on one database deliver each row exactly once,
-- in order per case; a lease that expires (its holder died) is taken over.
-- A migration, once applied anywhere, is never edited: add a new file instead.

ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until TIMESTAMPTZ;
CREATE INDEX outbox_pending_by_case ON outbox (case_id, id) WHERE delivered_at IS NULL;
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE delivered_at IS NOT NULL;
