//! `gatehouse audit log | verify`

use serde_json::Value;

use super::{CmdResult, Ctx, Failure, decode};
use crate::audit::Event;
use crate::service::ChainReport;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print activity-log events, oldest first.
    Log {
        #[arg(long = "app")]
        application: Option<String>,
        #[arg(long)]
        version: Option<String>,
        /// e.g. version.promote
        #[arg(long)]
        action: Option<String>,
        #[arg(long = "by")]
        actor: Option<String>,
        /// success, failure, blocked or warning.
        #[arg(long)]
        result: Option<String>,
        /// RFC 3339, inclusive.
        #[arg(long)]
        since: Option<String>,
        /// RFC 3339, exclusive.
        #[arg(long)]
        until: Option<String>,
        /// At most this many events (default: all).
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Walk the hash chain and the signed checkpoints; exit 1 naming the first broken event.
    Verify,
    /// Sign a checkpoint of the current log head.
    Checkpoint,
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let api = ctx.client()?;
    match cmd {
        Command::Log {
            application,
            version,
            action,
            actor,
            result,
            since,
            until,
            limit,
        } => {
            let mut q = Vec::new();
            for (k, v) in [
                ("application", application),
                ("version", version),
                ("action", action),
                ("actor", actor),
                ("result", result),
                ("since", since),
                ("until", until),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            let events = all_pages(&api, "/v1/activity", q, limit.unwrap_or(usize::MAX))?;
            ctx.print(&events, |events| events.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Checkpoint => {
            let cp: crate::release::Checkpoint = decode(
                "checkpoint",
                api.call(hyper::Method::POST, "/v1/activity/checkpoints", &[], None)?,
            )?;
            ctx.print(&cp, |c| {
                format!(
                    "checkpoint of event {} ({}) signed by {}",
                    c.head.seq, c.head.hash, c.keyid
                )
            });
        }
        Command::Verify => {
            let report: ChainReport = decode("chain report", api.get("/v1/activity/verify", &[])?)?;
            ctx.print(&report, |r| match &r.broken {
                None => format!(
                    "activity log intact: {} events, head {} {}{}",
                    r.events,
                    r.head_seq,
                    r.head_hash,
                    r.jcs_from_seq
                        .map(|n| format!(" (hashed over RFC 8785 from event {n})"))
                        .unwrap_or_default()
                ),
                Some(b) => format!("activity log BROKEN at event {}: {}", b.seq, b.reason),
            });
            if let Some(b) = report.broken {
                return Err(Failure::refused(
                    "log_broken",
                    format!("activity log broken at event {}", b.seq),
                ));
            }
        }
    }
    Ok(())
}

/// Follow `next` cursors until `max` events or the end.
pub fn all_pages(
    api: &super::Client,
    path: &str,
    query: Vec<(&str, String)>,
    max: usize,
) -> Result<Vec<Event>, Failure> {
    let mut events: Vec<Event> = Vec::new();
    let mut after: Option<String> = None;
    while events.len() < max {
        let limit = (max - events.len()).min(1000);
        let mut q = query.clone();
        q.push(("limit", limit.to_string()));
        if let Some(a) = &after {
            q.push(("after", a.clone()));
        }
        let page = api.get(path, &q)?;
        let items: Vec<Event> = decode("events", page.get("items").cloned().unwrap_or_default())?;
        let done = items.len() < limit || page.get("next").is_none_or(Value::is_null);
        after = items.last().map(|e| e.seq.to_string());
        events.extend(items);
        if done {
            break;
        }
    }
    Ok(events)
}

pub fn line(e: &Event) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        e.seq,
        e.time,
        e.actor,
        e.action,
        e.subject,
        e.result.as_str()
    )
}
