-- Issue "Every real MCP client gets in": clients that authenticate with private_key_jwt
-- (RFC 7523) publish their public keys inline (`jwks`, a JSON document) or at a URL
-- (`jwks_uri`); each assertion's jti is remembered until the assertion expires, so none
-- is accepted twice.

ALTER TABLE clients ADD COLUMN jwks TEXT;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;

CREATE TABLE client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);
