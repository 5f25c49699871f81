-- Two indexes that held an entry per mention or per clock for the few rows their queries look
-- for. As SQLite's 0008.
-- A migration, once applied anywhere, is never edited: add a new file instead.

DROP INDEX case_events_by_kind;
CREATE INDEX case_events_by_kind ON case_events (kind, at) WHERE kind NOT IN ('opened', 'mention');

DROP INDEX sla_clocks_running;
CREATE INDEX sla_clocks_flagged ON sla_clocks (due_at)
    WHERE running_since IS NOT NULL AND (warned OR breach_noticed);
