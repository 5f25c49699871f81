-- Surge incidents: a spike of mentions in one category, grouped under one alert and thread.
-- A migration, once applied anywhere, is never edited: add a new file instead.

CREATE TABLE incidents (
    id                   INTEGER PRIMARY KEY,
    category             TEXT NOT NULL,          -- the playbook id of the surging category
    status               TEXT NOT NULL,          -- open, ended (the rate fell back), resolved
    opened_at            TEXT NOT NULL,
    ended_at             TEXT,
    window_secs          INTEGER NOT NULL,
    baseline_per_window  REAL NOT NULL,          -- the trailing rate it was compared with
    peak_count           INTEGER NOT NULL,       -- most mentions seen in one window
    mention_count        INTEGER NOT NULL DEFAULT 0,
    case_count           INTEGER NOT NULL DEFAULT 0,
    samples              TEXT NOT NULL DEFAULT '[]',
    bulk_playbook        TEXT,
    alert_ref            TEXT,                   -- the chat adapter's alert message
    thread_ref           TEXT                    -- the chat adapter's incident thread
);
CREATE INDEX incidents_by_category ON incidents (category, status);
CREATE INDEX incidents_by_opening ON incidents (opened_at);

-- The incident a case was grouped under.
ALTER TABLE cases ADD COLUMN incident_id INTEGER REFERENCES incidents (id);
CREATE INDEX cases_by_incident ON cases (incident_id) WHERE incident_id IS NOT NULL;
