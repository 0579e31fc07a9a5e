-- Every change to the signing keys (a rotation by any instance or by the CLI) notifies the
-- channel `mcp_authd_signing_keys` when its transaction commits, so every instance that
-- LISTENs reloads its keys at once instead of at its next poll.
CREATE FUNCTION mcp_authd_signing_keys_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('mcp_authd_signing_keys', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER signing_keys_changed
AFTER INSERT OR UPDATE OR DELETE ON signing_keys
FOR EACH STATEMENT EXECUTE FUNCTION mcp_authd_signing_keys_changed();
