#![no_main]
//! Target `fuzz_http_conn`: see `checks::http_conn` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::http_conn(data));
