-- SLA clocks are their own timers: a running clock's next point (its warning, then its breach)
-- is read from the clock row by the sweep, so warnings and breaches have no timer rows any
-- more (they were two rows per clock, cancelled and rewritten at every change of the clock and
-- kept forever once fired). Fired and cancelled timers of other kinds are pruned by
-- `carebot run` (see README, "Databases").
-- A migration, once applied anywhere, is never edited: add a new file instead.

-- The running clocks whose breach is not noticed yet, by their next point: the warning while
-- it is due, else the breach.
CREATE INDEX sla_clocks_next_point ON sla_clocks (COALESCE(warn_due_at, due_at))
    WHERE breach_noticed = 0 AND due_at IS NOT NULL;

-- The clocks' timers: the pending ones are what the clock rows now say, the others history.
DELETE FROM timers WHERE clock_id IS NOT NULL;
DROP INDEX timers_by_clock;
