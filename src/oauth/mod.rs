//! Protocol rules with no HTTP framework and no SQL, so they can be tested on their own.

pub mod audiences;
pub mod authorize;
pub mod cimd;
pub mod client;
pub mod error;
pub mod metadata;
pub mod params;
pub mod pkce;
pub mod protected_resource;
pub mod redirect_uri;
pub mod registration;
pub mod resource;
pub mod scope;
pub mod strict_json;
