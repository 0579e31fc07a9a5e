//! Protocol rules with no HTTP framework and no SQL, so they can be tested on their own.

pub mod cimd;
pub mod client;
pub mod error;
pub mod metadata;
pub mod params;
pub mod redirect_uri;
pub mod registration;
pub mod scope;
