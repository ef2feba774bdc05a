//! The WSO2 fault vocabulary every listener answers errors with:
//! `{"fault":{"code":..,"message":..,"description":..}}`, its codes, and the common refusals.

use crate::http::Response;
use crate::service::Outcome;
use serde::Serialize;

/// Fault codes of the original gateway. README's API section lists which answer carries which.
/// Everything not below: bad requests, unknown paths and methods, throttling, overload, and
/// server errors (their HTTP status tells them apart).
pub const FAULT_UNCLASSIFIED: u32 = 900900;
/// Wrong or malformed credentials (401), or an invalid key at the validator.
pub const FAULT_INVALID_CREDENTIALS: u32 = 900901;
/// No credentials, or no key at the validator (401).
pub const FAULT_MISSING_CREDENTIALS: u32 = 900902;
/// "Resource forbidden" (403): the caller is known but may not do this: a scope it lacks, a key
/// issued to someone else, its revocation share used up, or an API its key does not cover.
pub const FAULT_FORBIDDEN: u32 = 900908;
/// At `/validate` (403): the key's `permittedIP` or `permittedReferer` does not admit the
/// client, or no trusted gateway said who the client is.
pub const FAULT_CLIENT_NOT_PERMITTED: u32 = 900912;
/// At `/validate` (403): a SANDBOX key where only PRODUCTION keys are accepted.
pub const FAULT_KEY_TYPE_NOT_ACCEPTED: u32 = 900913;

#[derive(Serialize)]
struct FaultBody<'a> {
    fault: Fault<'a>,
}

/// Field order as the original sends it.
#[derive(Serialize)]
struct Fault<'a> {
    code: u32,
    message: &'a str,
    description: &'a str,
}

/// The original gateway's error body: `{"fault":{"code":..,"message":..,"description":..}}`.
pub fn fault(status: u16, code: u32, message: &str, description: &str) -> Response {
    let body = FaultBody {
        fault: Fault {
            code,
            message,
            description,
        },
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    Response::new(status, "application/json", body)
}

/// 404 for any path a listener does not serve.
pub fn not_found() -> Response {
    fault(404, FAULT_UNCLASSIFIED, "Not Found", "no such resource")
}

/// 405 with the methods the resource does take.
pub fn method_not_allowed(allow: &str) -> Response {
    fault(
        405,
        FAULT_UNCLASSIFIED,
        "Method Not Allowed",
        "method not allowed on this resource",
    )
    .header("Allow", allow)
}

/// 500. The details go to the log, not to the client.
pub fn internal_error(detail: &str) -> Outcome {
    crate::log::error(&format!("internal error: {detail}"));
    fault(
        500,
        FAULT_UNCLASSIFIED,
        "Internal Server Error",
        "the server could not complete the request",
    )
    .into()
}
