//! A collector that returns far more statements than any real one: config
//! `count` (default 200,000) test-result statements. The host must refuse
//! the lot, store nothing, and keep serving.

use gatehouse_sdk::{Collector, Context, Error, Statement};
use serde_json::json;

struct Flood;

impl Collector for Flood {
    fn collect(_ctx: Context) -> Result<Vec<Statement>, Error> {
        let count = gatehouse_sdk::config::text("count")
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(200_000);
        let predicate = json!({ "result": "PASSED" });
        Ok((0..count)
            .map(|_| Statement::new("https://in-toto.io/attestation/test-result/v0.1", &predicate))
            .collect())
    }
}

gatehouse_sdk::export_collector!(Flood);
