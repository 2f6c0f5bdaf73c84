//! CycloneDX and SPDX documents, as SBOM uploads are read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gatehouse::sbom::parse("fuzz", data);
});
