#![no_main]
//! Target `fuzz_http_roundtrip`: see `checks::http_roundtrip` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::http_roundtrip(data));
