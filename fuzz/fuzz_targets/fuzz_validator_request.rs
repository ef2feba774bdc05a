#![no_main]
//! Target `fuzz_validator_request`: see `checks::validator_request` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::validator_request(data));
