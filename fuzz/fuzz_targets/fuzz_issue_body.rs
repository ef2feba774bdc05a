#![no_main]
//! Target `fuzz_issue_body`: see `checks::issue_body` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::issue_body(data));
