//! `gatehouse version …`

use std::path::PathBuf;

use serde_json::{Value, json};

use hyper::Method;

use super::client::seg;
use super::{CmdResult, Ctx, Failure, decode, read_json_file, usage};
use crate::version::Version;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a draft version of an application.
    Create {
        app: String,
        version: Option<String>,
        #[command(flatten)]
        fields: Fields,
        /// A JSON document as POST …/versions takes it ('-' for stdin).
        #[arg(long, conflicts_with = "version")]
        file: Option<PathBuf>,
    },
    /// Change a draft version (only the fields given).
    Update {
        app: String,
        version: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// List an application's versions.
    List {
        app: String,
        #[arg(long)]
        stage: Option<String>,
        #[arg(long)]
        release_status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one version.
    Show { app: String, version: String },
    /// The version's activity, oldest first.
    Timeline { app: String, version: String },
}

#[derive(Debug, clap::Args)]
pub struct Fields {
    /// name=N,kind=package|container|build|file,sha256=HEX[,purl=P] (repeatable).
    #[arg(long = "artifact")]
    artifacts: Vec<String>,
    #[arg(long)]
    vcs_repo: Option<String>,
    #[arg(long)]
    vcs_branch: Option<String>,
    #[arg(long)]
    vcs_revision: Option<String>,
    /// RFC 3339 commit time.
    #[arg(long)]
    commit_time: Option<String>,
    #[arg(long)]
    tag: Option<String>,
}

impl Fields {
    fn to_json(&self) -> Result<serde_json::Map<String, Value>, Failure> {
        let mut doc = serde_json::Map::new();
        if !self.artifacts.is_empty() {
            let arts = self
                .artifacts
                .iter()
                .map(|a| parse_artifact(a))
                .collect::<Result<Vec<_>, _>>()?;
            doc.insert("artifacts".into(), Value::Array(arts));
        }
        if self.vcs_repo.is_some()
            || self.vcs_revision.is_some()
            || self.vcs_branch.is_some()
            || self.commit_time.is_some()
        {
            let mut vcs = serde_json::Map::new();
            for (k, v) in [
                ("repo", &self.vcs_repo),
                ("branch", &self.vcs_branch),
                ("revision", &self.vcs_revision),
                ("commit_time", &self.commit_time),
            ] {
                if let Some(v) = v {
                    vcs.insert(k.into(), json!(v));
                }
            }
            doc.insert("vcs".into(), Value::Object(vcs));
        }
        if let Some(t) = &self.tag {
            doc.insert("tag".into(), json!(t));
        }
        Ok(doc)
    }
}

fn parse_artifact(spec: &str) -> Result<Value, Failure> {
    let mut obj = serde_json::Map::new();
    for part in spec.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            usage(format!(
                "invalid --artifact {spec:?}: expected name=N,kind=K,sha256=HEX[,purl=P]"
            ))
        })?;
        obj.insert(k.trim().to_string(), json!(v.trim()));
    }
    Ok(Value::Object(obj))
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        Command::Create {
            app,
            version,
            fields,
            file,
        } => {
            let doc = match (file, version) {
                (Some(path), _) => read_json_file(&path)?,
                (None, Some(v)) => {
                    let mut doc = fields.to_json()?;
                    doc.insert("version".into(), json!(v));
                    Value::Object(doc)
                }
                (None, None) => return Err(usage("give a VERSION or --file".into())),
            };
            let path = format!("/v1/applications/{}/versions", seg(&app));
            let v: Version = decode("version", api.call(Method::POST, &path, &[], Some(&doc))?)?;
            ctx.print(&v, |v| {
                format!(
                    "created version {}@{} (draft, lifecycle {})",
                    v.application, v.version, v.lifecycle
                )
            });
        }
        Command::Update { app, version, fields } => {
            let patch = Value::Object(fields.to_json()?);
            let path = format!("/v1/applications/{}/versions/{}", seg(&app), seg(&version));
            let v: Version = decode("version", api.call(Method::PATCH, &path, &[], Some(&patch))?)?;
            ctx.print(&v, |v| format!("updated version {}@{}", v.application, v.version));
        }
        Command::List {
            app,
            stage,
            release_status,
            limit,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            if let Some(s) = stage {
                q.push(("stage", s));
            }
            if let Some(s) = release_status {
                q.push(("release_status", s));
            }
            let page = api.get(&format!("/v1/applications/{}/versions", seg(&app)), &q)?;
            let rows: Vec<Version> = decode("versions", page.get("items").cloned().unwrap_or_default())?;
            ctx.print(&rows, |rows| rows.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Show { app, version } => {
            let path = format!("/v1/applications/{}/versions/{}", seg(&app), seg(&version));
            let v: Version = decode("version", api.get(&path, &[])?)?;
            ctx.print(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
        }
        Command::Timeline { app, version } => {
            let path = format!("/v1/applications/{}/versions/{}/timeline", seg(&app), seg(&version));
            let events = super::audit::all_pages(&api, &path, Vec::new(), usize::MAX)?;
            ctx.print(&events, |events| {
                events.iter().map(super::audit::line).collect::<Vec<_>>().join("\n")
            });
        }
    }
    Ok(())
}

fn line(v: &Version) -> String {
    format!(
        "{}\t{}\t{}\t{}",
        v.version,
        v.stage.as_deref().unwrap_or("-"),
        v.release_status.as_str(),
        if v.draft { "draft" } else { "frozen" }
    )
}
