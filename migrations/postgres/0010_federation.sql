-- Issue "Sign in with the identity provider people already have".

-- A person is identified at an upstream provider by (provider, subject); the access token's
-- sub stays mcp-authd's own user id. One person may be linked at several providers.
CREATE TABLE federated_identities (
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX federated_identities_user_id ON federated_identities (user_id);

-- A round trip to a provider in progress: the hash of its state, the browser it belongs to
-- and the pending authorization request it continues. Deleted when the callback comes back
-- (single use) or when it expires. The PKCE verifier and nonce are derived from the state
-- and the browser's own cookie, so nothing secret is stored.
CREATE TABLE federated_sign_ins (
    state_hash   TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    binding_hash TEXT NOT NULL,
    request_hash TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX federated_sign_ins_expires_at ON federated_sign_ins (expires_at);

-- Which provider a session was signed in with (NULL: the local password).
ALTER TABLE sessions ADD COLUMN identity_provider TEXT;
