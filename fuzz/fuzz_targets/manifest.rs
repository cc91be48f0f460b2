//! Any text as a SparkApplication manifest (`sparkplane render` and the operator read the same).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(problem) = sparkplane_fuzz::check_manifest(text)
    {
        panic!("{problem}");
    }
});
