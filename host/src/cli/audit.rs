//! `gatehouse audit log | verify`

use super::{CmdResult, Ctx, Failure};
use crate::audit::{Event, EventResult};
use crate::error::Error;
use crate::store::EventFilter;

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
    /// Walk the hash chain; exit 1 naming the first broken event.
    Verify,
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    let gh = ctx.open()?;
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
            let mut filter = EventFilter {
                application,
                version,
                action,
                actor,
                result: result
                    .map(|r| {
                        EventResult::parse(&r)
                            .ok_or_else(|| Error::invalid("result", &r, "success, failure, blocked or warning"))
                    })
                    .transpose()?,
                since: since.map(|t| crate::time::parse("since", &t)).transpose()?,
                until: until.map(|t| crate::time::parse("until", &t)).transpose()?,
                after_seq: None,
                limit: 1000,
            };
            let max = limit.unwrap_or(usize::MAX);
            let mut events = Vec::new();
            while events.len() < max {
                filter.limit = (max - events.len()).min(1000);
                let page = gh.activity(filter.clone())?;
                filter.after_seq = page.last().map(|e| e.seq);
                let done = page.len() < filter.limit;
                events.extend(page);
                if done {
                    break;
                }
            }
            ctx.print(&events, |events| events.iter().map(line).collect::<Vec<_>>().join("\n"));
        }
        Command::Verify => {
            let report = gh.verify_chain()?;
            ctx.print(&report, |r| match &r.broken {
                None => format!(
                    "activity log intact: {} events, head {} {}",
                    r.events, r.head_seq, r.head_hash
                ),
                Some(b) => format!("activity log BROKEN at event {}: {}", b.seq, b.reason),
            });
            if let Some(b) = report.broken {
                return Err(Failure::from(anyhow::anyhow!("activity log broken at event {}", b.seq)));
            }
        }
    }
    Ok(())
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
