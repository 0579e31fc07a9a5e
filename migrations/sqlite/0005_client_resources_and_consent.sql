-- Issue "Nothing anonymous can mint a token": the MCP servers an operator bound to a client
-- (`clients create|update --resource URI`), which are the only audiences a machine client's
-- client_credentials tokens may have outside the configured resources; and when a client's
-- redirect URIs last changed, since consent given before then no longer counts.

ALTER TABLE clients ADD COLUMN resources TEXT NOT NULL DEFAULT '[]';  -- JSON array of strings
ALTER TABLE clients ADD COLUMN redirect_uris_changed_at INTEGER;
