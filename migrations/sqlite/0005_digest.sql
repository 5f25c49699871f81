-- The weekly digest: which periods were posted, and the indexes its aggregate queries read.
-- A migration, once applied anywhere, is never edited: add a new file instead.

-- One row per weekly period posted, written in the transaction that queues the post: with
-- the period start as the key, a second process or a restart can never post it again.
CREATE TABLE digests (
    period_start  TEXT PRIMARY KEY,
    period_end    TEXT NOT NULL,
    timezone      TEXT NOT NULL,
    queued_at     TEXT NOT NULL,
    late          INTEGER NOT NULL DEFAULT 0    -- posted after start-up: carebot was down when due
);

-- At most one pending digest timer per due time, whichever process schedules it.
CREATE UNIQUE INDEX timers_digest_pending ON timers (due_at) WHERE kind = 'digest' AND fired_at IS NULL;

-- Cases opened in a period, by category and priority, read from the index alone.
CREATE INDEX cases_by_opening ON cases (opened_at, category, priority);
-- Backlog: cases resolved before a moment.
CREATE INDEX cases_by_resolution ON cases (resolved_at) WHERE resolved_at IS NOT NULL;
-- Mentions received in a period.
CREATE INDEX mentions_by_receipt ON mentions (received_at);
-- Resolutions and reopenings in a period.
CREATE INDEX case_events_by_kind ON case_events (kind, at);
-- Escalations opened in a period.
CREATE INDEX escalations_by_creation ON escalations (created_at);
