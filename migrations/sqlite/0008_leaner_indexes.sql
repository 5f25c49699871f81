-- Two indexes that held an entry per mention or per clock for the few rows their queries look
-- for (see README, "Databases"):
-- - the events by kind leave out the two kinds every mention writes (`opened`, `mention`),
--   which no query looks up by kind; queries by kind name the same condition to use it;
-- - the running clocks by due time become the running clocks that warned or breached: the
--   clocks at risk are those and the clocks whose next point passed (`sla_clocks_next_point`).
-- A migration, once applied anywhere, is never edited: add a new file instead.

DROP INDEX case_events_by_kind;
CREATE INDEX case_events_by_kind ON case_events (kind, at) WHERE kind NOT IN ('opened', 'mention');

DROP INDEX sla_clocks_running;
CREATE INDEX sla_clocks_flagged ON sla_clocks (due_at)
    WHERE running_since IS NOT NULL AND (warned OR breach_noticed);
