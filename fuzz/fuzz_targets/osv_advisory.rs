//! One OSV advisory, as `vuln import` and `POST /v1/advisories` read it.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = gatehouse::vuln::parse_advisory("fuzz", data) {
        let _ = gatehouse::vuln::affects(&a, "PyPI", "django", "1.0.0");
    }
});
