-- SLA clocks: one row per target per case (first response, each next response, resolution).
-- A migration, once applied anywhere, is never edited: add a new file instead.

CREATE TABLE sla_clocks (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    target          TEXT NOT NULL,            -- first_response, next_response, resolution
    policy          TEXT NOT NULL,
    budget_secs     INTEGER NOT NULL,         -- the target, in working seconds
    business_hours  INTEGER NOT NULL,
    warn_at         REAL NOT NULL,
    started_at      TEXT NOT NULL,
    elapsed_secs    INTEGER NOT NULL,         -- working seconds used before running_since
    running_since   TEXT,                     -- NULL while paused or stopped
    due_at          TEXT,                     -- while running
    warn_due_at     TEXT,
    stopped_at      TEXT,
    outcome         TEXT,                     -- met, breached, cancelled
    margin_secs     INTEGER,                  -- over (breached) or under (met) the target
    warned          INTEGER NOT NULL DEFAULT 0,
    breach_noticed  INTEGER NOT NULL DEFAULT 0,
    agent           TEXT                      -- who replied or resolved
);
CREATE INDEX sla_clocks_by_case ON sla_clocks (case_id, id);
CREATE INDEX sla_clocks_running ON sla_clocks (due_at) WHERE running_since IS NOT NULL;
CREATE INDEX sla_clocks_stopped ON sla_clocks (stopped_at) WHERE stopped_at IS NOT NULL;

-- Warnings and breach notices are timers too; they belong to a clock.
ALTER TABLE timers ADD COLUMN clock_id INTEGER REFERENCES sla_clocks (id);
CREATE INDEX timers_by_clock ON timers (clock_id) WHERE fired_at IS NULL;
