-- Issue "OpenID Connect": the nonce an authorization request carried travels with its
-- code into the ID token (OpenID Connect Core 3.1.2.1, 3.1.3.7). auth_time is already kept.

ALTER TABLE authorization_codes ADD COLUMN nonce TEXT;
