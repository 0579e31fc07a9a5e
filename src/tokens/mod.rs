//! Everything the server mints: opaque secrets and their hashes.

pub mod opaque;
