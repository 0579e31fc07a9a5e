-- Signing-key rotation: every key gets a generation number, unique, so instances racing to
-- create the next key (or the first) insert exactly one; the loser's insert fails and it
-- reloads. Rows written before this migration keep NULL and count as generation 0.

ALTER TABLE signing_keys ADD COLUMN generation BIGINT;
CREATE UNIQUE INDEX signing_keys_generation ON signing_keys (generation);
