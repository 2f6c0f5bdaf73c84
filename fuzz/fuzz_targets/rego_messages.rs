//! What a policy's `deny`/`warn` rule returned, decoded into findings.
#![no_main]
use gatehouse::gate::Level;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for level in [Level::Deny, Level::Warn] {
            if let Ok(findings) = gatehouse::policy::messages_from_json(level, text) {
                for f in &findings {
                    let _ = f.line();
                }
            }
        }
    }
});
