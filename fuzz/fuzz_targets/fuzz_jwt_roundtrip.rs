#![no_main]
//! Target `fuzz_jwt_roundtrip`: see `checks::jwt_roundtrip` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::jwt_roundtrip(data));
