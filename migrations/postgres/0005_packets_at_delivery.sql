-- An escalation's packet is rendered when it is delivered. As SQLite's 0009.
-- A migration, once applied anywhere, is never edited: add a new file instead.

ALTER TABLE escalations DROP COLUMN packet;
