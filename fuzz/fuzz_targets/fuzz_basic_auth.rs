#![no_main]
//! Target `fuzz_basic_auth`: see `checks::basic_auth` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::basic_auth(data));
