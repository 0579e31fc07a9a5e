//! Small pieces every layer shares, each named for what it is.

pub mod clock;
pub mod lenient;
pub mod limited_body;
pub mod metrics;
pub mod net;
pub mod password;
pub mod rate_limit;
pub mod secret;
pub mod telemetry;
