//! The configuration file (TOML), parsed and resolved.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(file) = toml::from_str::<gatehouse::config::ConfigFile>(text)
    {
        let _ = file.resolve();
    }
});
