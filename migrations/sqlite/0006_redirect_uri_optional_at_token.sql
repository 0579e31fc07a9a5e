-- OAuth 2.1 4.1.3: PKCE binds a code, so /token no longer requires the redirect_uri to be
-- repeated when the authorization request sent it; whether it was sent is not needed.
ALTER TABLE authorization_codes DROP COLUMN redirect_uri_sent;
