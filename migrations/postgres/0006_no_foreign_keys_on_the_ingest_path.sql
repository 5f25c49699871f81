-- The references that every mention of an import paid for are dropped: a case's customer and
-- incident, a mention's case and customer, an event's case, a clock's case. PostgreSQL checks
-- a deferred reference at commit with one locking lookup per row, about a quarter of a bulk
-- import's time (benches/backends.rs). carebot writes a case and the rows that refer to it in
-- one transaction; SQLite still enforces these references, so the contract suite, which runs
-- on both backends, catches a write that would break one; `carebot doctor` counts rows whose
-- case or customer is missing. The low-volume references (escalations, grants, timers) stay.
-- A migration, once applied anywhere, is never edited: add a new file instead.

ALTER TABLE cases DROP CONSTRAINT IF EXISTS cases_customer_id_fkey;
ALTER TABLE cases DROP CONSTRAINT IF EXISTS cases_incident_id_fkey;
ALTER TABLE mentions DROP CONSTRAINT IF EXISTS mentions_case_id_fkey;
ALTER TABLE mentions DROP CONSTRAINT IF EXISTS mentions_customer_id_fkey;
ALTER TABLE case_events DROP CONSTRAINT IF EXISTS case_events_case_id_fkey;
ALTER TABLE sla_clocks DROP CONSTRAINT IF EXISTS sla_clocks_case_id_fkey;
