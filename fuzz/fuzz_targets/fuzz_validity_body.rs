#![no_main]
//! Target `fuzz_validity_body`: see `checks::validity_body` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::validity_body(data));
