//! Everything the server mints: opaque secrets and their hashes, JWT access tokens, and the
//! signing keys that rotate by themselves.

pub mod access_token;
pub mod client_assertion;
pub mod id_token;
pub mod key_encryption;
pub mod key_set;
pub mod keyring;
pub mod opaque;
pub mod rotation;
pub mod signing_key;
pub mod upstream_id_token;
