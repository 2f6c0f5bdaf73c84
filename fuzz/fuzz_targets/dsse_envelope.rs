//! A DSSE envelope and the in-toto statement in it, as `POST /v1/evidence` reads them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = gatehouse::evidence::parse_envelope(data) {
        let _ = gatehouse::evidence::metadata(&env);
        let _ = gatehouse::evidence::parse_statement(&env.payload);
    }
    let _ = gatehouse::evidence::parse_statement(data);
});
