-- Times become whole seconds since the Unix epoch, INTEGER columns, instead of RFC 3339 text:
-- 8 bytes at most instead of 25, in every row and every index that holds one (see README,
-- "Databases"). The outbox keeps its text times (they have fractions of a second).
--
-- SQLite cannot change a column's type in place, so each table is rebuilt (the procedure of
-- https://sqlite.org/lang_altertable.html#otheralter): carebot runs migrations with foreign
-- keys off (`store::sqlite::migrate`), and the references are checked at the end. A value that
-- is already a number is left as it is.
-- A migration, once applied anywhere, is never edited: add a new file instead.

CREATE TABLE customers_new (
    id            INTEGER PRIMARY KEY,
    network       TEXT NOT NULL,
    handle        TEXT NOT NULL,
    display_name  TEXT,
    segment       TEXT NOT NULL DEFAULT 'standard',
    notes         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    UNIQUE (network, handle)
);
INSERT INTO customers_new (id, network, handle, display_name, segment, notes, created_at)
    SELECT id, network, handle, display_name, segment, notes, CASE WHEN typeof(created_at) = 'text' THEN unixepoch(created_at) ELSE created_at END
    FROM customers;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;

CREATE TABLE cases_new (
    id                 INTEGER PRIMARY KEY,
    customer_id        INTEGER NOT NULL REFERENCES customers (id),
    status             TEXT NOT NULL,
    priority           TEXT NOT NULL,
    priority_reasons   TEXT NOT NULL DEFAULT '[]',
    category           TEXT NOT NULL,
    title              TEXT NOT NULL,
    tags               TEXT NOT NULL DEFAULT '[]',
    owner_id           TEXT,
    owner_name         TEXT,
    mention_count      INTEGER NOT NULL DEFAULT 0,
    unparsed           INTEGER NOT NULL DEFAULT 0,
    feed_channel_id    TEXT,
    feed_message_id    TEXT,
    thread_ref         TEXT,
    card_ref           TEXT,
    opened_at          INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    first_response_at  INTEGER,
    last_customer_at   INTEGER NOT NULL,
    resolved_at        INTEGER
, granted TEXT NOT NULL DEFAULT '[]', incident_id INTEGER REFERENCES incidents (id));
INSERT INTO cases_new (id, customer_id, status, priority, priority_reasons, category, title, tags, owner_id, owner_name, mention_count, unparsed, feed_channel_id, feed_message_id, thread_ref, card_ref, opened_at, updated_at, first_response_at, last_customer_at, resolved_at, granted, incident_id)
    SELECT id, customer_id, status, priority, priority_reasons, category, title, tags, owner_id, owner_name, mention_count, unparsed, feed_channel_id, feed_message_id, thread_ref, card_ref, CASE WHEN typeof(opened_at) = 'text' THEN unixepoch(opened_at) ELSE opened_at END, CASE WHEN typeof(updated_at) = 'text' THEN unixepoch(updated_at) ELSE updated_at END, CASE WHEN typeof(first_response_at) = 'text' THEN unixepoch(first_response_at) ELSE first_response_at END, CASE WHEN typeof(last_customer_at) = 'text' THEN unixepoch(last_customer_at) ELSE last_customer_at END, CASE WHEN typeof(resolved_at) = 'text' THEN unixepoch(resolved_at) ELSE resolved_at END, granted, incident_id
    FROM cases;
DROP TABLE cases;
ALTER TABLE cases_new RENAME TO cases;

CREATE TABLE mentions_new (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER NOT NULL REFERENCES cases (id),
    customer_id      INTEGER NOT NULL REFERENCES customers (id),
    source_id        TEXT NOT NULL UNIQUE,
    external_id      TEXT UNIQUE,
    network          TEXT NOT NULL,
    handle           TEXT NOT NULL,
    display_name     TEXT,
    text             TEXT NOT NULL,
    url              TEXT,
    followers        INTEGER,
    unparsed         INTEGER NOT NULL DEFAULT 0,
    feed_channel_id  TEXT,
    feed_message_id  TEXT,
    posted_at        INTEGER NOT NULL,
    received_at      INTEGER NOT NULL
);
INSERT INTO mentions_new (id, case_id, customer_id, source_id, external_id, network, handle, display_name, text, url, followers, unparsed, feed_channel_id, feed_message_id, posted_at, received_at)
    SELECT id, case_id, customer_id, source_id, external_id, network, handle, display_name, text, url, followers, unparsed, feed_channel_id, feed_message_id, CASE WHEN typeof(posted_at) = 'text' THEN unixepoch(posted_at) ELSE posted_at END, CASE WHEN typeof(received_at) = 'text' THEN unixepoch(received_at) ELSE received_at END
    FROM mentions;
DROP TABLE mentions;
ALTER TABLE mentions_new RENAME TO mentions;

CREATE TABLE ignored_posts_new (
    source_id    TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    received_at  INTEGER NOT NULL
);
INSERT INTO ignored_posts_new (source_id, reason, received_at)
    SELECT source_id, reason, CASE WHEN typeof(received_at) = 'text' THEN unixepoch(received_at) ELSE received_at END
    FROM ignored_posts;
DROP TABLE ignored_posts;
ALTER TABLE ignored_posts_new RENAME TO ignored_posts;

CREATE TABLE case_events_new (
    id        INTEGER PRIMARY KEY,
    case_id   INTEGER NOT NULL REFERENCES cases (id),
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO case_events_new (id, case_id, at, actor, kind, detail)
    SELECT id, case_id, CASE WHEN typeof(at) = 'text' THEN unixepoch(at) ELSE at END, actor, kind, detail
    FROM case_events;
DROP TABLE case_events;
ALTER TABLE case_events_new RENAME TO case_events;

CREATE TABLE escalations_new (
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
    tier_started_at  INTEGER NOT NULL,
    deadline_at      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    deadline_secs    INTEGER NOT NULL,         -- the policy as it was when opened
    on_timeout       TEXT NOT NULL,            -- deny, grant_up_to, next_tier
    timeout_cap      INTEGER,
    next_approver    TEXT,
    decided_by_id    TEXT,
    decided_by_name  TEXT,
    decided_at       INTEGER,
    decided_amount   INTEGER,
    decision_note    TEXT,
    timed_out        INTEGER NOT NULL DEFAULT 0,
    questions        TEXT NOT NULL DEFAULT '[]',
    message_ref      TEXT                      -- the chat adapter's message of the packet
);
INSERT INTO escalations_new (id, case_id, status, reason, playbook, remedy, remedy_label, unit, amount, blocked_rule, blocked_by, requester_id, requester_name, requester_role, requester_limit, approver, tier, tier_started_at, deadline_at, created_at, deadline_secs, on_timeout, timeout_cap, next_approver, decided_by_id, decided_by_name, decided_at, decided_amount, decision_note, timed_out, questions, message_ref)
    SELECT id, case_id, status, reason, playbook, remedy, remedy_label, unit, amount, blocked_rule, blocked_by, requester_id, requester_name, requester_role, requester_limit, approver, tier, CASE WHEN typeof(tier_started_at) = 'text' THEN unixepoch(tier_started_at) ELSE tier_started_at END, CASE WHEN typeof(deadline_at) = 'text' THEN unixepoch(deadline_at) ELSE deadline_at END, CASE WHEN typeof(created_at) = 'text' THEN unixepoch(created_at) ELSE created_at END, deadline_secs, on_timeout, timeout_cap, next_approver, decided_by_id, decided_by_name, CASE WHEN typeof(decided_at) = 'text' THEN unixepoch(decided_at) ELSE decided_at END, decided_amount, decision_note, timed_out, questions, message_ref
    FROM escalations;
DROP TABLE escalations;
ALTER TABLE escalations_new RENAME TO escalations;

CREATE TABLE grants_new (
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
    granted_at       INTEGER NOT NULL
);
INSERT INTO grants_new (id, case_id, remedy, remedy_label, unit, amount, granted_by_id, granted_by_name, budget_actor_id, escalation_id, rule, granted_at)
    SELECT id, case_id, remedy, remedy_label, unit, amount, granted_by_id, granted_by_name, budget_actor_id, escalation_id, rule, CASE WHEN typeof(granted_at) = 'text' THEN unixepoch(granted_at) ELSE granted_at END
    FROM grants;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;

CREATE TABLE timers_new (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,              -- escalation_reminder, escalation_deadline
    case_id        INTEGER REFERENCES cases (id),
    escalation_id  INTEGER REFERENCES escalations (id),
    tier           INTEGER,
    detail         TEXT NOT NULL DEFAULT '{}',
    due_at         INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    fired_at       INTEGER,
    outcome        TEXT                        -- fired, cancelled
, clock_id INTEGER REFERENCES sla_clocks (id));
INSERT INTO timers_new (id, kind, case_id, escalation_id, tier, detail, due_at, created_at, fired_at, outcome, clock_id)
    SELECT id, kind, case_id, escalation_id, tier, detail, CASE WHEN typeof(due_at) = 'text' THEN unixepoch(due_at) ELSE due_at END, CASE WHEN typeof(created_at) = 'text' THEN unixepoch(created_at) ELSE created_at END, CASE WHEN typeof(fired_at) = 'text' THEN unixepoch(fired_at) ELSE fired_at END, outcome, clock_id
    FROM timers;
DROP TABLE timers;
ALTER TABLE timers_new RENAME TO timers;

CREATE TABLE sla_clocks_new (
    id              INTEGER PRIMARY KEY,
    case_id         INTEGER NOT NULL REFERENCES cases (id),
    target          TEXT NOT NULL,            -- first_response, next_response, resolution
    policy          TEXT NOT NULL,
    budget_secs     INTEGER NOT NULL,         -- the target, in working seconds
    business_hours  INTEGER NOT NULL,
    warn_at         REAL NOT NULL,
    started_at      INTEGER NOT NULL,
    elapsed_secs    INTEGER NOT NULL,         -- working seconds used before running_since
    running_since   INTEGER,                     -- NULL while paused or stopped
    due_at          INTEGER,                     -- while running
    warn_due_at     INTEGER,
    stopped_at      INTEGER,
    outcome         TEXT,                     -- met, breached, cancelled
    margin_secs     INTEGER,                  -- over (breached) or under (met) the target
    warned          INTEGER NOT NULL DEFAULT 0,
    breach_noticed  INTEGER NOT NULL DEFAULT 0,
    agent           TEXT                      -- who replied or resolved
);
INSERT INTO sla_clocks_new (id, case_id, target, policy, budget_secs, business_hours, warn_at, started_at, elapsed_secs, running_since, due_at, warn_due_at, stopped_at, outcome, margin_secs, warned, breach_noticed, agent)
    SELECT id, case_id, target, policy, budget_secs, business_hours, warn_at, CASE WHEN typeof(started_at) = 'text' THEN unixepoch(started_at) ELSE started_at END, elapsed_secs, CASE WHEN typeof(running_since) = 'text' THEN unixepoch(running_since) ELSE running_since END, CASE WHEN typeof(due_at) = 'text' THEN unixepoch(due_at) ELSE due_at END, CASE WHEN typeof(warn_due_at) = 'text' THEN unixepoch(warn_due_at) ELSE warn_due_at END, CASE WHEN typeof(stopped_at) = 'text' THEN unixepoch(stopped_at) ELSE stopped_at END, outcome, margin_secs, warned, breach_noticed, agent
    FROM sla_clocks;
DROP TABLE sla_clocks;
ALTER TABLE sla_clocks_new RENAME TO sla_clocks;

CREATE TABLE incidents_new (
    id                   INTEGER PRIMARY KEY,
    category             TEXT NOT NULL,          -- the playbook id of the surging category
    status               TEXT NOT NULL,          -- open, ended (the rate fell back), resolved
    opened_at            INTEGER NOT NULL,
    ended_at             INTEGER,
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
INSERT INTO incidents_new (id, category, status, opened_at, ended_at, window_secs, baseline_per_window, peak_count, mention_count, case_count, samples, bulk_playbook, alert_ref, thread_ref)
    SELECT id, category, status, CASE WHEN typeof(opened_at) = 'text' THEN unixepoch(opened_at) ELSE opened_at END, CASE WHEN typeof(ended_at) = 'text' THEN unixepoch(ended_at) ELSE ended_at END, window_secs, baseline_per_window, peak_count, mention_count, case_count, samples, bulk_playbook, alert_ref, thread_ref
    FROM incidents;
DROP TABLE incidents;
ALTER TABLE incidents_new RENAME TO incidents;

CREATE TABLE digests_new (
    period_start  INTEGER PRIMARY KEY,
    period_end    INTEGER NOT NULL,
    timezone      TEXT NOT NULL,
    queued_at     INTEGER NOT NULL,
    late          INTEGER NOT NULL DEFAULT 0    -- posted after start-up: carebot was down when due
);
INSERT INTO digests_new (period_start, period_end, timezone, queued_at, late)
    SELECT CASE WHEN typeof(period_start) = 'text' THEN unixepoch(period_start) ELSE period_start END, CASE WHEN typeof(period_end) = 'text' THEN unixepoch(period_end) ELSE period_end END, timezone, CASE WHEN typeof(queued_at) = 'text' THEN unixepoch(queued_at) ELSE queued_at END, late
    FROM digests;
DROP TABLE digests;
ALTER TABLE digests_new RENAME TO digests;

CREATE INDEX cases_by_customer ON cases (customer_id, id);
CREATE INDEX cases_by_status ON cases (status, priority, opened_at);
CREATE INDEX mentions_by_case ON mentions (case_id, id);
CREATE INDEX case_events_by_case ON case_events (case_id, id);
CREATE INDEX escalations_by_status ON escalations (status, deadline_at);
CREATE INDEX escalations_by_case ON escalations (case_id, id);
CREATE INDEX grants_by_case ON grants (case_id, remedy);
CREATE INDEX grants_by_budget ON grants (budget_actor_id, unit, granted_at);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;
CREATE INDEX timers_by_escalation ON timers (escalation_id) WHERE fired_at IS NULL;
CREATE INDEX sla_clocks_by_case ON sla_clocks (case_id, id);
CREATE INDEX sla_clocks_stopped ON sla_clocks (stopped_at) WHERE stopped_at IS NOT NULL;
CREATE INDEX incidents_by_category ON incidents (category, status);
CREATE INDEX incidents_by_opening ON incidents (opened_at);
CREATE INDEX cases_by_incident ON cases (incident_id) WHERE incident_id IS NOT NULL;
CREATE UNIQUE INDEX timers_digest_pending ON timers (due_at) WHERE kind = 'digest' AND fired_at IS NULL;
CREATE INDEX cases_by_opening ON cases (opened_at, category, priority);
CREATE INDEX cases_by_resolution ON cases (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX mentions_by_receipt ON mentions (received_at);
CREATE INDEX escalations_by_creation ON escalations (created_at);
CREATE INDEX sla_clocks_next_point ON sla_clocks (COALESCE(warn_due_at, due_at))
    WHERE breach_noticed = 0 AND due_at IS NOT NULL;
CREATE INDEX case_events_by_kind ON case_events (kind, at) WHERE kind NOT IN ('opened', 'mention');
CREATE INDEX sla_clocks_flagged ON sla_clocks (due_at)
    WHERE running_since IS NOT NULL AND (warned OR breach_noticed);

-- Every reference still points at a row (the rebuild copied every row as it was): a problem
-- fails the CHECK and rolls the whole migration back.
CREATE TEMP TABLE integer_times_check (foreign_key_problems INTEGER CHECK (foreign_key_problems = 0));
INSERT INTO integer_times_check SELECT COUNT(*) FROM pragma_foreign_key_check;
DROP TABLE integer_times_check;
