//! The integration test binary: real HTTP on loopback, a real database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cimd;
mod cli;
mod health;
mod helpers;
mod metadata;
mod register;
mod store_suite;
