#![no_main]
//! Target `fuzz_keystore`: see `checks::keystore` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::keystore(data));
