-- The whole schema of SQLite's migrations 0001-0005, in PostgreSQL's types: ids BIGINT,
-- times TIMESTAMPTZ, flags BOOLEAN; JSON stays TEXT as the app writes it. Foreign keys are
-- checked at commit: a transaction writes its buffered rows table by table as reads need them.
-- A migration, once applied anywhere, is never edited: add a new file instead.

CREATE TABLE customers (
    id            BIGSERIAL PRIMARY KEY,
    network       TEXT NOT NULL,
    handle        TEXT NOT NULL,
    display_name  TEXT,
    segment       TEXT NOT NULL DEFAULT 'standard',
    notes         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (network, handle)
);

-- Surge incidents: a spike of mentions in one category, grouped under one alert and thread.
CREATE TABLE incidents (
    id                   BIGSERIAL PRIMARY KEY,
    category             TEXT NOT NULL,
    status               TEXT NOT NULL,          -- open, ended (the rate fell back), resolved
    opened_at            TIMESTAMPTZ NOT NULL,
    ended_at             TIMESTAMPTZ,
    window_secs          BIGINT NOT NULL,
    baseline_per_window  DOUBLE PRECISION NOT NULL,
    peak_count           BIGINT NOT NULL,
    mention_count        BIGINT NOT NULL DEFAULT 0,
    case_count           BIGINT NOT NULL DEFAULT 0,
    samples              TEXT NOT NULL DEFAULT '[]',
    bulk_playbook        TEXT,
    alert_ref            TEXT,
    thread_ref           TEXT
);
CREATE INDEX incidents_by_category ON incidents (category, status);
CREATE INDEX incidents_by_opening ON incidents (opened_at);

-- Case ids are given by the app (the highest so far plus one, under the write lock).
CREATE TABLE cases (
    id                 BIGINT PRIMARY KEY,
    customer_id        BIGINT NOT NULL REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED,
    status             TEXT NOT NULL,
    priority           TEXT NOT NULL,
    priority_reasons   TEXT NOT NULL DEFAULT '[]',
    category           TEXT NOT NULL,
    title              TEXT NOT NULL,
    tags               TEXT NOT NULL DEFAULT '[]',
    owner_id           TEXT,
    owner_name         TEXT,
    mention_count      BIGINT NOT NULL DEFAULT 0,
    unparsed           BOOLEAN NOT NULL DEFAULT FALSE,
    feed_channel_id    TEXT,
    feed_message_id    TEXT,
    thread_ref         TEXT,
    card_ref           TEXT,
    opened_at          TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    first_response_at  TIMESTAMPTZ,
    last_customer_at   TIMESTAMPTZ NOT NULL,
    resolved_at        TIMESTAMPTZ,
    granted            TEXT NOT NULL DEFAULT '[]',
    incident_id        BIGINT REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX cases_by_customer ON cases (customer_id, id);
CREATE INDEX cases_by_status ON cases (status, priority, opened_at);
CREATE INDEX cases_by_thread ON cases (thread_ref) WHERE thread_ref IS NOT NULL;
CREATE INDEX cases_by_incident ON cases (incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX cases_by_opening ON cases (opened_at, category, priority);
CREATE INDEX cases_by_resolution ON cases (resolved_at) WHERE resolved_at IS NOT NULL;

CREATE TABLE mentions (
    id               BIGSERIAL PRIMARY KEY,
    case_id          BIGINT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    customer_id      BIGINT NOT NULL REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED,
    source_id        TEXT NOT NULL UNIQUE,
    external_id      TEXT UNIQUE,
    network          TEXT NOT NULL,
    handle           TEXT NOT NULL,
    display_name     TEXT,
    text             TEXT NOT NULL,
    url              TEXT,
    followers        BIGINT,
    unparsed         BOOLEAN NOT NULL DEFAULT FALSE,
    feed_channel_id  TEXT,
    feed_message_id  TEXT,
    posted_at        TIMESTAMPTZ NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX mentions_by_case ON mentions (case_id, id);
CREATE INDEX mentions_by_receipt ON mentions (received_at);

-- Feed posts that were read but deliberately not turned into mentions (own brand, echoes).
CREATE TABLE ignored_posts (
    source_id    TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL
);

-- Append-only timeline and audit trail of every case.
CREATE TABLE case_events (
    id        BIGSERIAL PRIMARY KEY,
    case_id   BIGINT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_by_case ON case_events (case_id, id);
CREATE INDEX case_events_by_kind ON case_events (kind, at);

-- Transport-neutral messages to deliver, written in the same transaction as the change.
CREATE TABLE outbox (
    id               BIGSERIAL PRIMARY KEY,
    case_id          BIGINT,
    payload          TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_error       TEXT,
    delivered_at     TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;

-- Last feed message processed per channel, for backfill after a restart.
CREATE TABLE feed_cursors (
    channel_id       TEXT PRIMARY KEY,
    last_message_id  TEXT NOT NULL
);

-- Requests for a decision, with their deadline; decided once.
CREATE TABLE escalations (
    id               BIGSERIAL PRIMARY KEY,
    case_id          BIGINT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    status           TEXT NOT NULL,
    reason           TEXT NOT NULL,
    playbook         TEXT NOT NULL,
    remedy           TEXT,
    remedy_label     TEXT,
    unit             TEXT,
    amount           BIGINT,
    blocked_rule     TEXT,
    blocked_by       TEXT,
    requester_id     TEXT NOT NULL,
    requester_name   TEXT NOT NULL,
    requester_role   TEXT NOT NULL,
    requester_limit  BIGINT,
    approver         TEXT NOT NULL,
    tier             BIGINT NOT NULL DEFAULT 1,
    tier_started_at  TIMESTAMPTZ NOT NULL,
    deadline_at      TIMESTAMPTZ NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    deadline_secs    BIGINT NOT NULL,
    on_timeout       TEXT NOT NULL,
    timeout_cap      BIGINT,
    next_approver    TEXT,
    decided_by_id    TEXT,
    decided_by_name  TEXT,
    decided_at       TIMESTAMPTZ,
    decided_amount   BIGINT,
    decision_note    TEXT,
    timed_out        BOOLEAN NOT NULL DEFAULT FALSE,
    questions        TEXT NOT NULL DEFAULT '[]',
    packet           TEXT NOT NULL DEFAULT '[]',
    message_ref      TEXT
);
CREATE INDEX escalations_by_status ON escalations (status, deadline_at);
CREATE INDEX escalations_by_case ON escalations (case_id, id);
CREATE INDEX escalations_by_creation ON escalations (created_at);

CREATE TABLE grants (
    id               BIGSERIAL PRIMARY KEY,
    case_id          BIGINT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    remedy           TEXT NOT NULL,
    remedy_label     TEXT NOT NULL,
    unit             TEXT NOT NULL,
    amount           BIGINT NOT NULL,
    granted_by_id    TEXT NOT NULL,
    granted_by_name  TEXT NOT NULL,
    budget_actor_id  TEXT,
    escalation_id    BIGINT REFERENCES escalations (id) DEFERRABLE INITIALLY DEFERRED,
    rule             TEXT NOT NULL,
    granted_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX grants_by_case ON grants (case_id, remedy);
CREATE INDEX grants_by_budget ON grants (budget_actor_id, unit, granted_at);

-- SLA clock ids are given by the app, like case ids.
CREATE TABLE sla_clocks (
    id              BIGINT PRIMARY KEY,
    case_id         BIGINT NOT NULL REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    target          TEXT NOT NULL,
    policy          TEXT NOT NULL,
    budget_secs     BIGINT NOT NULL,
    business_hours  BOOLEAN NOT NULL,
    warn_at         DOUBLE PRECISION NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    elapsed_secs    BIGINT NOT NULL,
    running_since   TIMESTAMPTZ,
    due_at          TIMESTAMPTZ,
    warn_due_at     TIMESTAMPTZ,
    stopped_at      TIMESTAMPTZ,
    outcome         TEXT,
    margin_secs     BIGINT,
    warned          BOOLEAN NOT NULL DEFAULT FALSE,
    breach_noticed  BOOLEAN NOT NULL DEFAULT FALSE,
    agent           TEXT
);
CREATE INDEX sla_clocks_by_case ON sla_clocks (case_id, id);
CREATE INDEX sla_clocks_running ON sla_clocks (due_at) WHERE running_since IS NOT NULL;
CREATE INDEX sla_clocks_stopped ON sla_clocks (stopped_at) WHERE stopped_at IS NOT NULL;

-- Things due at a time, fired exactly once by a sweep.
CREATE TABLE timers (
    id             BIGSERIAL PRIMARY KEY,
    kind           TEXT NOT NULL,
    case_id        BIGINT REFERENCES cases (id) DEFERRABLE INITIALLY DEFERRED,
    escalation_id  BIGINT REFERENCES escalations (id) DEFERRABLE INITIALLY DEFERRED,
    tier           BIGINT,
    detail         TEXT NOT NULL DEFAULT '{}',
    due_at         TIMESTAMPTZ NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    fired_at       TIMESTAMPTZ,
    outcome        TEXT,
    clock_id       BIGINT REFERENCES sla_clocks (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL;
CREATE INDEX timers_by_escalation ON timers (escalation_id) WHERE fired_at IS NULL;
CREATE INDEX timers_by_clock ON timers (clock_id) WHERE fired_at IS NULL;
CREATE UNIQUE INDEX timers_digest_pending ON timers (due_at) WHERE kind = 'digest' AND fired_at IS NULL;

-- One row per weekly period posted.
CREATE TABLE digests (
    period_start  TIMESTAMPTZ PRIMARY KEY,
    period_end    TIMESTAMPTZ NOT NULL,
    timezone      TEXT NOT NULL,
    queued_at     TIMESTAMPTZ NOT NULL,
    late          BOOLEAN NOT NULL DEFAULT FALSE
);
