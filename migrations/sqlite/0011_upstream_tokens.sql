-- Issue "Sign in with the identity provider people already have": the provider's tokens,
-- kept for MCP servers that act for the person (RFC 8693 token exchange at /token).

-- One row per person and provider (providers with store_upstream_tokens = true). Both tokens
-- are sealed under the key-encryption key, bound to the row (user id and provider), so a
-- database dump alone does not reveal them and a sealed value moved to another row does not
-- open. Deleted when the person's grant, tokens or account are revoked, disabled or deleted.
CREATE TABLE upstream_tokens (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    access_token  TEXT NOT NULL,
    refresh_token TEXT,
    token_type    TEXT NOT NULL,
    scope         TEXT,
    expires_at    INTEGER,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, provider)
);
