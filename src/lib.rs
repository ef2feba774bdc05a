//! apikey-sts: an API Key Security Token Service, drop-in for the WSO2 API Microgateway 3.x
//! `/apikey` service.
//!
//! The core is sans-IO (`http` parses bytes into requests, `app` turns requests into responses,
//! `jwt` signs); `server` is the thin I/O edge around it.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod jwks;
pub mod jwt;
pub mod keystore;
pub mod log;
pub mod metrics;
pub mod revocation;
pub mod secret;
pub mod server;
pub mod startup;
pub mod strict_json;
pub mod throttle;
pub mod throttle_store;
pub mod validator;
