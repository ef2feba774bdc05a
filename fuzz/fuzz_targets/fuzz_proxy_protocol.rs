#![no_main]
//! Target `fuzz_proxy_protocol`: see `checks::proxy_protocol` in fuzz/checks.rs for the properties
//! checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::proxy_protocol(data));
