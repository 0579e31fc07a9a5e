-- Introspection and revocation: revoking every token of a client (`tokens revoke --client`)
-- also rejects its unrecorded client_credentials tokens, by issue time; revoking by person or
-- client finds tokens by index; the sweep of expired revocations finds them by expiry.

ALTER TABLE clients ADD COLUMN tokens_revoked_before INTEGER;  -- tokens with iat below this are revoked
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX authorization_codes_user_id ON authorization_codes (user_id);
CREATE INDEX authorization_codes_client_id ON authorization_codes (client_id);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
