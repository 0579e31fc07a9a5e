-- A refresh rotation is one statement: the successor is inserted only while its parent is
-- live (the store checks that in the INSERT), and this trigger marks the parent rotated and
-- notes the grant's use, inside the same statement. One writer at a time makes it atomic.
CREATE TRIGGER refresh_token_rotation AFTER INSERT ON refresh_tokens
WHEN NEW.parent_hash IS NOT NULL
BEGIN
    UPDATE refresh_tokens SET rotated_at = NEW.issued_at, successor_hash = NEW.token_hash
    WHERE token_hash = NEW.parent_hash;
    UPDATE grants SET last_used_at = NEW.issued_at WHERE id = NEW.grant_id;
END;
