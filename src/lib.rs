//! apikey-sts: an API Key Security Token Service, drop-in for the WSO2 API Microgateway 3.x
//! `/apikey` service.
//!
//! Dependencies point one way: the edge (`server`, composed by `startup`) drives handlers
//! through `service`; the handlers (`issuer`, `plain_listener` with `validator`) use the leaves
//! (`http`, `jwt`, `jwks`, `auth`, `revocation`, `throttle`, `keystore`, `metrics`, `fault`,
//! `config`). Handlers do no network I/O (`http` parses bytes into requests, the handler turns
//! requests into responses), but revoking appends to the revocation log and fsyncs it, and
//! issuing draws from the OS RNG. `tests/module_graph.rs` fails on an import cycle.
#![forbid(unsafe_code)]

pub mod auth;
pub mod client_addr;
pub mod config;
pub mod fault;
pub mod form;
pub mod http;
pub mod issuer;
pub mod jwks;
pub mod jwt;
pub mod keystore;
pub mod log;
pub mod metrics;
pub mod oauth;
pub mod pem;
pub mod plain_listener;
pub mod proxy_protocol;
pub mod restriction;
pub mod revocation;
pub mod secret;
pub mod server;
pub mod service;
pub mod startup;
pub mod strict_json;
pub mod throttle;
pub mod throttle_store;
pub mod validator;
