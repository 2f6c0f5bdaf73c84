//! An OSV zip dump, as `vuln import all.zip` reads it (bounded per entry, in total, by ratio).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("dump.zip");
    if std::fs::write(&path, data).is_ok() {
        let _ = gatehouse::feed::load_path(&path);
    }
});
