#![no_main]
//! Target `fuzz_feed_record`: see `checks::feed_record` in fuzz/checks.rs for the properties checked.

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::feed_record(data));
