-- The whole schema the server needs. Ids and hashes are text, times are unix seconds.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    source                     TEXT NOT NULL,           -- cli | dynamic | cimd
    token_endpoint_auth_method TEXT NOT NULL,           -- none | client_secret_basic | client_secret_post
    secret_hash                TEXT,
    redirect_uris              TEXT NOT NULL,           -- JSON array of strings
    grant_types                TEXT NOT NULL,           -- JSON array of strings
    scope                      TEXT,
    resource_server            INTEGER NOT NULL DEFAULT 0,
    metadata                   TEXT NOT NULL DEFAULT '{}', -- registration metadata echoed back (RFC 7591)
    registration_token_hash    TEXT,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    last_used_at               INTEGER
);

CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE authorization_requests (
    id_hash      TEXT PRIMARY KEY,
    binding_hash TEXT NOT NULL,          -- the browser it belongs to
    client_id    TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    request      TEXT NOT NULL,          -- JSON of the validated request
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    consumed_at  INTEGER
);
CREATE INDEX authorization_requests_expires_at ON authorization_requests (expires_at);

CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id    TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    resource     TEXT NOT NULL,
    scope        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    UNIQUE (user_id, client_id, resource)
);
CREATE INDEX grants_client_id ON grants (client_id);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    grant_id       TEXT REFERENCES grants(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    redirect_uri_sent INTEGER NOT NULL,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    scope          TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    consumed_at    INTEGER,
    family_id      TEXT,                 -- the refresh family issued from this code
    access_jti     TEXT                  -- the access token issued from this code
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash        TEXT PRIMARY KEY,
    family_id         TEXT NOT NULL,
    parent_hash       TEXT,
    grant_id          TEXT REFERENCES grants(id) ON DELETE CASCADE,
    client_id         TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id           TEXT REFERENCES users(id) ON DELETE CASCADE,
    resource          TEXT NOT NULL,
    scope             TEXT NOT NULL,
    auth_time         INTEGER NOT NULL,
    access_jti        TEXT NOT NULL,      -- the access token issued beside this refresh token
    access_expires_at INTEGER NOT NULL,
    issued_at         INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,    -- idle expiry
    family_expires_at INTEGER NOT NULL,    -- absolute expiry
    rotated_at        INTEGER,
    successor_hash    TEXT,
    revoked_at        INTEGER
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (family_expires_at);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_access_tokens_revoked_at ON revoked_access_tokens (revoked_at);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    algorithm       TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    private_key     TEXT NOT NULL,        -- AES-256-GCM sealed, base64
    created_at      INTEGER NOT NULL,
    activates_at    INTEGER NOT NULL,      -- starts signing
    retires_at      INTEGER,               -- stops signing
    withdrawn_at    INTEGER                -- leaves the JWKS
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    client_id  TEXT,
    ip         TEXT,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
