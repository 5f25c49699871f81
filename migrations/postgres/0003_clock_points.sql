-- SLA clocks are their own timers: a running clock's next point (its warning, then its breach)
-- is read from the clock row by the sweep, so warnings and breaches have no timer rows any
-- more. As SQLite's 0007.
-- A migration, once applied anywhere, is never edited: add a new file instead.

CREATE INDEX sla_clocks_next_point ON sla_clocks ((COALESCE(warn_due_at, due_at)))
    WHERE NOT breach_noticed AND due_at IS NOT NULL;

DELETE FROM timers WHERE clock_id IS NOT NULL;
DROP INDEX timers_by_clock;
