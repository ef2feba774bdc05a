#![no_main]
//! Target `fuzz_revoke_body`: see `checks::revoke_body` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::revoke_body(data));
