#![no_main]
//! Target `fuzz_config`: see `checks::config` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config(data));
