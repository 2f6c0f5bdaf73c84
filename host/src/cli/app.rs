//! `gatehouse app …`

use std::path::PathBuf;

use serde_json::{Value, json};

use hyper::Method;

use super::client::seg;
use super::{CmdResult, Ctx, decode, parse_pairs, read_json_file};
use crate::app::Application;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create an application (flags, or the API's JSON document with --file).
    Create {
        key: Option<String>,
        #[command(flatten)]
        fields: Fields,
        /// A JSON document as POST /v1/applications takes it ('-' for stdin).
        #[arg(long, conflicts_with = "key")]
        file: Option<PathBuf>,
    },
    /// List applications.
    List {
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        criticality: Option<String>,
        #[arg(long)]
        maturity: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// KEY or KEY=VALUE.
        #[arg(long)]
        label: Option<String>,
        #[arg(long)]
        after: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one application.
    Show { key: String },
    /// Change an application (only the fields given).
    Update {
        key: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Delete an application that has only draft versions.
    Delete { key: String },
}

#[derive(Debug, clap::Args)]
pub struct Fields {
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// unspecified, low, medium, high or critical.
    #[arg(long)]
    criticality: Option<String>,
    /// unspecified, experimental, production or end_of_life.
    #[arg(long)]
    maturity: Option<String>,
    /// An owning user (repeatable).
    #[arg(long = "owner-user")]
    owner_users: Vec<String>,
    /// An owning group (repeatable).
    #[arg(long = "owner-group")]
    owner_groups: Vec<String>,
    /// KEY=VALUE (repeatable).
    #[arg(long = "label")]
    labels: Vec<String>,
}

impl Fields {
    /// The same JSON the API takes, so validation and messages are shared.
    fn to_json(&self) -> Result<serde_json::Map<String, Value>, super::Failure> {
        let mut doc = serde_json::Map::new();
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                doc.insert(k.to_string(), json!(v));
            }
        };
        put("name", &self.name);
        put("project", &self.project);
        put("description", &self.description);
        put("criticality", &self.criticality);
        put("maturity", &self.maturity);
        if !self.owner_users.is_empty() || !self.owner_groups.is_empty() {
            doc.insert(
                "owners".into(),
                json!({ "users": self.owner_users, "groups": self.owner_groups }),
            );
        }
        if !self.labels.is_empty() {
            doc.insert("labels".into(), Value::Object(parse_pairs("label", &self.labels)?));
        }
        Ok(doc)
    }
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        Command::Create { key, fields, file } => {
            let doc = match (file, key) {
                (Some(path), _) => read_json_file(&path)?,
                (None, Some(key)) => {
                    let mut doc = fields.to_json()?;
                    doc.insert("key".into(), json!(key));
                    Value::Object(doc)
                }
                (None, None) => return Err(super::usage("give an application KEY or --file".into())),
            };
            let app: Application = decode(
                "application",
                api.call(Method::POST, "/v1/applications", &[], Some(&doc))?,
            )?;
            ctx.print(&app, |a| format!("created application {}", a.key));
        }
        Command::List {
            project,
            criticality,
            maturity,
            owner,
            label,
            after,
            limit,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            for (k, v) in [
                ("project", project),
                ("criticality", criticality),
                ("maturity", maturity),
                ("owner", owner),
                ("label", label),
                ("after", after),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            let page = api.get("/v1/applications", &q)?;
            let apps: Vec<Application> = decode("applications", page.get("items").cloned().unwrap_or_default())?;
            ctx.print(&apps, |apps| apps.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Show { key } => {
            let app: Application = decode("application", api.get(&format!("/v1/applications/{}", seg(&key)), &[])?)?;
            ctx.print(&app, |a| serde_json::to_string_pretty(a).unwrap_or_default());
        }
        Command::Update { key, fields } => {
            let patch = Value::Object(fields.to_json()?);
            let path = format!("/v1/applications/{}", seg(&key));
            let app: Application = decode("application", api.call(Method::PATCH, &path, &[], Some(&patch))?)?;
            ctx.print(&app, |a| format!("updated application {}", a.key));
        }
        Command::Delete { key } => {
            let out = api.call(Method::DELETE, &format!("/v1/applications/{}", seg(&key)), &[], None)?;
            ctx.print(&out, |_| format!("deleted application {key}"));
        }
    }
    Ok(())
}

fn line(a: &Application) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        a.key,
        a.project,
        a.criticality.as_str(),
        a.maturity.as_str(),
        a.name
    )
}
