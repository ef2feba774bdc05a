#![no_main]
//! Target `fuzz_http_structured`: see `checks::http_structured` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::http_structured(data));
