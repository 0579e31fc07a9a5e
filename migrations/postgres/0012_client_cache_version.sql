-- Issue "Performance, round two": instances keep clients in memory and must drop them within
-- a second of any change made by another instance or by the CLI. Every change to a client
-- (not the hourly "last used" mark) bumps one counter, which each instance polls.
-- A migration that adds a column to clients must add it to the UPDATE OF list below.
CREATE TABLE cache_versions (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO cache_versions (name, version) VALUES ('clients', 0);

CREATE FUNCTION mcp_authd_clients_changed() RETURNS trigger AS $$
BEGIN
    UPDATE cache_versions SET version = version + 1 WHERE name = 'clients';
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clients_changed
AFTER UPDATE OF name, source, token_endpoint_auth_method, secret_hash, redirect_uris, grant_types, scope, resource_server, metadata, registration_token_hash, created_at, updated_at, tokens_revoked_before, resources, redirect_uris_changed_at, jwks, jwks_uri, id OR DELETE ON clients
FOR EACH ROW EXECUTE FUNCTION mcp_authd_clients_changed();
