-- An escalation's packet is rendered when it is delivered, from the case as it is then (see
-- README, "Databases"): the story once stored with each escalation is no longer kept.
-- A migration, once applied anywhere, is never edited: add a new file instead.

ALTER TABLE escalations DROP COLUMN packet;
