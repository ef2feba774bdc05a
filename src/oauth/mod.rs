//! OAuth 2.0 front doors, sans-IO: the parsers of their request bodies and the builders of their
//! answers. The issuer's router authenticates the caller (the same login, throttle and
//! failed-login hold as `/apikey`), issues and validates; this module knows the wire shapes.
//!
//! - `token`: `POST /apikey/token`, the client-credentials grant (RFC 6749 §4.4, §5);
//! - `scope`: the `scope` parameter's syntax for an API and version;
//! - `discovery`: `GET /.well-known/oauth-authorization-server` (RFC 8414);
//! - `introspect`: `POST /apikey/introspect` (RFC 7662);
//! - `params`: the form body both POST endpoints take (RFC 6749 §3.1, §3.2);
//! - `error`: the error answers (RFC 6749 §5.2).

mod discovery;
mod error;
mod introspect;
mod params;
mod scope;
mod token;

pub use discovery::{base_url, is_discovery_path, metadata, DISCOVERY_PATH};
pub use error::{InvalidRequest, OAuthError};
pub use introspect::{active, inactive, parse_introspect_request, INTROSPECT_PATH};
pub use params::{parse_params, Params, ParamsError, MAX_PARAMS};
pub use scope::{parse_scope, Scope, ScopeError, MAX_SCOPES};
pub use token::{
    parse_token_request, token_response, TokenRequest, CLIENT_CREDENTIALS, TOKEN_PATH,
};

/// The user scope that may call the introspection endpoint (`apikey:admin` may too).
pub const INTROSPECT_SCOPE: &str = "apikey:introspect";
