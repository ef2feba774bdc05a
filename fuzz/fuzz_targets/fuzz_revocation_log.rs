#![no_main]
//! Target `fuzz_revocation_log`: see `checks::revocation_log` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::revocation_log(data));
