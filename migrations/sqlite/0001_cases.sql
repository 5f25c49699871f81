-- Customers, cases, mentions, the case timeline and the outbox.
-- A migration, once applied anywhere, is never edited: add a new file instead.

CREATE TABLE customers (
    id            INTEGER PRIMARY KEY,
    network       TEXT NOT NULL,
    handle        TEXT NOT NULL,
    display_name  TEXT,
    segment       TEXT NOT NULL DEFAULT 'standard',
    notes         TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    UNIQUE (network, handle)
);

CREATE TABLE cases (
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
    opened_at          TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    first_response_at  TEXT,
    last_customer_at   TEXT NOT NULL,
    resolved_at        TEXT
);
CREATE INDEX cases_by_customer ON cases (customer_id, id);
CREATE INDEX cases_by_status ON cases (status, priority, opened_at);

CREATE TABLE mentions (
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
    posted_at        TEXT NOT NULL,
    received_at      TEXT NOT NULL
);
CREATE INDEX mentions_by_case ON mentions (case_id, id);

-- Feed posts that were read but deliberately not turned into mentions (own brand, echoes).
CREATE TABLE ignored_posts (
    source_id    TEXT PRIMARY KEY,
    reason       TEXT NOT NULL,
    received_at  TEXT NOT NULL
);

-- Append-only timeline and audit trail of every case.
CREATE TABLE case_events (
    id        INTEGER PRIMARY KEY,
    case_id   INTEGER NOT NULL REFERENCES cases (id),
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    kind      TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX case_events_by_case ON case_events (case_id, id);

-- Transport-neutral messages to deliver, written in the same transaction as the change.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    case_id          INTEGER,
    payload          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT,
    delivered_at     TEXT
);
CREATE INDEX outbox_pending ON outbox (delivered_at, id);

-- Last feed message processed per channel, for backfill after a restart.
CREATE TABLE feed_cursors (
    channel_id       TEXT PRIMARY KEY,
    last_message_id  TEXT NOT NULL
);
