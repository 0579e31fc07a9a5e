//! The integration test binary: real HTTP on loopback, a real database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod authorize;
mod browser;
mod cimd;
mod cli;
mod doctor;
mod error_bodies;
mod faults;
mod flow;
mod fuzz;
mod health;
mod helpers;
mod instances;
mod introspection;
mod keys;
mod layers;
mod limits;
mod metadata;
mod oidc;
mod ops;
mod private_key_jwt;
mod register;
mod store_suite;
mod token;
mod upstream;
