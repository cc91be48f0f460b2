//! A valid application with fields set to what the fuzzer picks: deeper than raw text, which rarely
//! gets past the YAML parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(problem) = sparkplane_fuzz::fields::check(data) {
        panic!("{problem}");
    }
});
