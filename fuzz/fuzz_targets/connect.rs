//! Any text as a SparkConnect manifest.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(problem) = sparkplane_fuzz::connect::check(text)
    {
        panic!("{problem}");
    }
});
