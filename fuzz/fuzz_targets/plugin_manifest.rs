//! A plugin manifest (TOML), as the sidecar reads `plugin_dir`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gatehouse::plugin::manifest::parse(text, "fuzz.toml", std::path::Path::new("/nonexistent"));
    }
});
