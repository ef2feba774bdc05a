#![no_main]
//! Target `fuzz_token_form`: see `checks::token_form` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::token_form(data));
