//! `vendor-scan-collector`: GET a scanner vendor's report for the version
//! (JSON) over HTTP and return it as the predicate of one statement. The URL
//! comes from config `url` (binding param `url` replaces it), with
//! `{application}` and `{version}` filled in; only hosts in the manifest's
//! `allowed_hosts` can be reached.

use gatehouse_sdk::{Collector, Context, Error, Statement};
use serde_json::Value;

const MAX_BODY: usize = 512 * 1024;

struct VendorScan;

impl Collector for VendorScan {
    fn collect(ctx: Context) -> Result<Vec<Statement>, Error> {
        let params = ctx.params_json()?;
        let template = params["url"]
            .as_str()
            .map(str::to_string)
            .or_else(|| gatehouse_sdk::config::text("url"))
            .ok_or_else(|| Error::new("config", "set config `url`"))?;
        let url = fill(&template, &ctx.application, &ctx.version);
        let predicate_type = gatehouse_sdk::config::text("predicate_type")
            .unwrap_or_else(|| "https://gatehouse.dev/attestation/vendor-scan/v0.1".to_string());
        let response = gatehouse_sdk::http::get(&url, MAX_BODY)?;
        if response.status != 200 {
            return Err(Error::new("vendor", format!("{url}: HTTP {}", response.status)));
        }
        let report: Value =
            serde_json::from_slice(&response.body).map_err(|e| Error::new("bad-report", format!("{url}: {e}")))?;
        if !report.is_object() {
            return Err(Error::new("bad-report", format!("{url}: expected a JSON object")));
        }
        gatehouse_sdk::log::info(&format!("fetched {} bytes from {url}", response.body.len()));
        Ok(vec![Statement::new(predicate_type, &report)])
    }
}

gatehouse_sdk::export_collector!(VendorScan);

/// The URL for one version: path segments are percent-encoded.
pub fn fill(template: &str, application: &str, version: &str) -> String {
    template
        .replace("{application}", &encode(application))
        .replace("{version}", &encode(version))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_url_names_the_version_safely() {
        assert_eq!(
            super::fill("http://h/r/{application}/{version}", "pay", "1.0+b/2"),
            "http://h/r/pay/1.0%2Bb%2F2"
        );
    }
}
