-- Issue "OpenID Connect": the nonce an authorization request carried travels with its
-- code into the ID token (OpenID Connect Core 3.1.2.1, 3.1.3.7). auth_time is already kept.

ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;

-- What ID tokens and userinfo say of a local person with `profile` and `email`, set with
-- `mcp-authd users create|update --name --email`.
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
