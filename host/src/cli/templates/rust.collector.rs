//! {{name}}: a Gatehouse evidence collector. It returns one statement naming
//! the version and `[config] builder`; the host signs it and stores it as
//! evidence. (A real collector reads files the manifest grants in
//! `allowed_paths`, or calls hosts it lists in `allowed_hosts`.)

use gatehouse_sdk::{Collector, Context, Error, Statement};

pub const PREDICATE_TYPE: &str = "https://example.com/{{name}}/build-info/v1";

struct Collect;

impl Collector for Collect {
    fn collect(ctx: Context) -> Result<Vec<Statement>, Error> {
        let builder =
            gatehouse_sdk::config::text("builder").ok_or_else(|| Error::new("config", "set `builder` in [config]"))?;
        gatehouse_sdk::log::info(&format!("collected build info for {} {}", ctx.application, ctx.version));
        let predicate = serde_json::json!({"builder": builder, "version": ctx.version});
        Ok(vec![Statement::new(PREDICATE_TYPE, &predicate)])
    }
}

gatehouse_sdk::export_collector!(Collect);

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_sdk::testing::{MockHost, context};

    #[test]
    fn one_statement_names_the_builder_and_the_version() {
        let host = MockHost::new().config("builder", "ci.example").install();
        let statements = Collect::collect(context().version("1.2.3").build()).unwrap();
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0].predicate_type, PREDICATE_TYPE);
        let predicate: serde_json::Value = serde_json::from_str(&statements[0].predicate).unwrap();
        assert_eq!(predicate, serde_json::json!({"builder": "ci.example", "version": "1.2.3"}));
        assert_eq!(host.messages().len(), 1);
    }

    #[test]
    fn without_config_it_says_what_to_set() {
        let _host = MockHost::new().install();
        assert_eq!(Collect::collect(context().build()).unwrap_err().code, "config");
    }
}
