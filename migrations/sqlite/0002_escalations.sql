-- Offers granted, escalations and the timers that keep them moving.
-- A migration, once applied anywhere, is never edited: add a new file instead.

-- What was granted on each case, as its card shows it (the grants table below is what
-- budgets and caps count).
ALTER TABLE cases ADD COLUMN granted TEXT NOT NULL DEFAULT '[]';

-- Requests for a decision, with their deadline; decided once.
CREATE TABLE escalations (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    status           TEXT NOT NULL,            -- open, approved, denied
    reason           TEXT NOT NULL,
    playbook         TEXT NOT NULL,
    remedy           TEXT,                     -- remedy kind; NULL for a decision without an amount
    remedy_label     TEXT,
    unit             TEXT,
    amount           INTEGER,                  -- requested, in hundredths of unit
    blocked_rule     TEXT,                     -- role_limit, case_cap, daily_budget
    blocked_by       TEXT,                     -- the sentence the agent read
    requester_id     TEXT NOT NULL,
    requester_name   TEXT NOT NULL,
    requester_role   TEXT NOT NULL,
    requester_limit  INTEGER,
    approver         TEXT NOT NULL,            -- the lowest role that may decide now
    tier             INTEGER NOT NULL DEFAULT 1,
    tier_started_at  TEXT NOT NULL,
    deadline_at      TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    deadline_secs    INTEGER NOT NULL,         -- the policy as it was when opened
    on_timeout       TEXT NOT NULL,            -- deny, grant_up_to, next_tier
    timeout_cap      INTEGER,
    next_approver    TEXT,
    decided_by_id    TEXT,
    decided_by_name  TEXT,
    decided_at       TEXT,
    decided_amount   INTEGER,
    decision_note    TEXT,
    timed_out        INTEGER NOT NULL DEFAULT 0,
    questions        TEXT NOT NULL DEFAULT '[]',
    packet           TEXT NOT NULL DEFAULT '[]', -- the case's story as it was when escalated
    message_ref      TEXT                      -- the chat adapter's message of the packet
);
CREATE INDEX escalations_by_status ON escalations (status, deadline_at);
CREATE INDEX escalations_by_case ON escalations (case_id, id);

-- Remedies granted on cases: by an agent within limits, or by an approver or the timeout policy.
CREATE TABLE grants (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    remedy           TEXT NOT NULL,
    remedy_label     TEXT NOT NULL,
    unit             TEXT NOT NULL,
    amount           INTEGER NOT NULL,         -- hundredths of unit
    granted_by_id    TEXT NOT NULL,
    granted_by_name  TEXT NOT NULL,
    budget_actor_id  TEXT,                     -- whose daily budget it counts against (NULL: nobody's)
    escalation_id    INTEGER REFERENCES escalations (id),
    rule             TEXT NOT NULL,
    granted_at       TEXT NOT NULL
);
CREATE INDEX grants_by_case ON grants (case_id, remedy);
CREATE INDEX grants_by_budget ON grants (budget_actor_id, unit, granted_at);

-- Things due at a time (escalation reminders and deadlines), fired exactly once by a sweep.
CREATE TABLE timers (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,              -- escalation_reminder, escalation_deadline
    case_id        INTEGER REFERENCES cases (id),
    escalation_id  INTEGER REFERENCES escalations (id),
    tier           INTEGER,
    detail         TEXT NOT NULL DEFAULT '{}',
    due_at         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    fired_at       TEXT,
    outcome        TEXT                        -- fired, cancelled
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;
CREATE INDEX timers_by_escalation ON timers (escalation_id) WHERE fired_at IS NULL;
