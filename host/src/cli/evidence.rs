//! `gatehouse evidence …`: ingest and list evidence, and the offline
//! `verify` and `sign` commands for auditors and pipelines.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use hyper::Method;

use super::client::seg;
use super::{CmdResult, Ctx, Failure, decode, read_text_file, usage};
use crate::evidence::{self, EvidenceEntry, Subject};
use crate::keys;
use crate::service::IngestOutcome;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ingest a DSSE envelope or an .intoto.jsonl bundle ('-' for stdin).
    /// Without --app/--version it binds to every version whose artifact a subject names.
    Add {
        file: PathBuf,
        #[arg(long, requires = "version")]
        app: Option<String>,
        #[arg(long, requires = "app")]
        version: Option<String>,
        /// Distinct trusted signatures required.
        #[arg(long, default_value_t = 1)]
        threshold: usize,
    },
    /// List a version's evidence.
    List {
        app: String,
        version: String,
        #[arg(long)]
        predicate_type: Option<String>,
        /// A signer key id.
        #[arg(long)]
        signer: Option<String>,
        #[arg(long)]
        verified: Option<bool>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
    },
    /// Verify an envelope offline against one public key; exit 0 when valid.
    Verify {
        /// The signer's public key (SPKI PEM or raw hex).
        #[arg(long)]
        key: PathBuf,
        envelope: PathBuf,
        /// A file whose sha256 must be a subject of the statement (repeatable).
        #[arg(long = "artifact")]
        artifacts: Vec<PathBuf>,
    },
    /// Sign an in-toto Statement v1 about the given files into a DSSE envelope.
    Sign {
        /// The private key (PKCS#8 PEM or raw hex seed).
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        predicate_type: String,
        /// A JSON file holding the predicate.
        #[arg(long)]
        predicate: PathBuf,
        /// A file the statement is about (repeatable, at least one).
        #[arg(long = "subject", required = true)]
        subjects: Vec<PathBuf>,
        /// Where to write the envelope (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(ctx: &Ctx, cmd: Command) -> CmdResult {
    match cmd {
        Command::Add {
            file,
            app,
            version,
            threshold,
        } => {
            let mut q = vec![("threshold", threshold.to_string())];
            if let (Some(a), Some(v)) = (app, version) {
                q.push(("application", a));
                q.push(("version", v));
            }
            let (status, out) = ctx
                .client()?
                .send(Method::POST, "/v1/evidence", &q, read_bytes(&file)?)?;
            if !matches!(status, 200 | 422) {
                return Err(super::client::failure(status, &out));
            }
            let outcomes: Vec<IngestOutcome> =
                decode("evidence outcomes", out.get("items").cloned().unwrap_or_default())?;
            ctx.print(&outcomes, |os| os.iter().map(describe).collect::<Vec<_>>().join("\n"));
            let refused = outcomes.iter().filter(|o| !o.accepted()).count();
            if refused > 0 {
                return Err(Failure::refused(
                    "evidence_refused",
                    format!("{refused} of {} envelope(s) refused", outcomes.len()),
                ));
            }
        }
        Command::List {
            app,
            version,
            predicate_type,
            signer,
            verified,
            since,
            until,
        } => {
            let mut q = Vec::new();
            for (k, v) in [
                ("predicate_type", predicate_type),
                ("signer", signer),
                ("verified", verified.map(|b| b.to_string())),
                ("since", since),
                ("until", until),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            let path = format!("/v1/applications/{}/versions/{}/evidence", seg(&app), seg(&version));
            let entries: Vec<EvidenceEntry> = decode(
                "evidence",
                ctx.client()?.get(&path, &q)?.get("items").cloned().unwrap_or_default(),
            )?;
            ctx.print(&entries, |es| {
                es.iter()
                    .map(|e| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            e.binding.digest,
                            e.predicate_type.as_deref().unwrap_or("-"),
                            if e.binding.verified { "verified" } else { "refused" },
                            e.binding.added_at
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Verify {
            key,
            envelope,
            artifacts,
        } => verify_offline(ctx, &key, &envelope, &artifacts)?,
        Command::Sign {
            key,
            predicate_type,
            predicate,
            subjects,
            out,
        } => {
            let sk = keys::parse_private_key(&format!("--key {}", key.display()), &read_text_file(&key)?)?;
            let predicate: serde_json::Value = serde_json::from_str(&read_text_file(&predicate)?)
                .map_err(|e| usage(format!("--predicate {}: not valid JSON: {e}", predicate.display())))?;
            if predicate_type.is_empty() || predicate_type.chars().any(char::is_whitespace) {
                return Err(usage(format!("--predicate-type {predicate_type:?}: expected a URI")));
            }
            let subjects = subjects
                .iter()
                .map(|p| {
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Ok(Subject {
                        name,
                        digest: [("sha256".to_string(), sha256_file(p)?)].into(),
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let env = evidence::sign(&sk, subjects, &predicate_type, predicate);
            let text = serde_json::to_string_pretty(&env).unwrap_or_default();
            match out {
                Some(path) => std::fs::write(&path, text + "\n")
                    .map_err(|e| super::usage(format!("cannot write {}: {e}", path.display())))?,
                None => super::out(&text),
            }
        }
    }
    Ok(())
}

fn verify_offline(ctx: &Ctx, key: &Path, envelope: &Path, artifacts: &[PathBuf]) -> CmdResult {
    let vk = keys::parse_public_key(&format!("--key {}", key.display()), &read_text_file(key)?)?;
    let refused = Failure::refusal;
    let env = evidence::parse_envelope(&read_bytes(envelope)?).map_err(refused)?;
    let ring = keys::KeyRing::single(&key.display().to_string(), vk);
    let verified = evidence::verify(&env, &ring, &crate::time::now(), 1).map_err(refused)?;
    let mut matched = Vec::new();
    for a in artifacts {
        let digest = sha256_file(a)?;
        evidence::check_binding(
            &verified.statement,
            [digest.as_str()],
            &format!("artifact {}", a.display()),
        )
        .map_err(refused)?;
        matched.push(a.display().to_string());
    }
    let subjects: Vec<String> = verified
        .statement
        .subject
        .iter()
        .map(|s| {
            format!(
                "{} (sha256:{})",
                s.name,
                s.digest.get("sha256").map_or("-", |d| d.get(..12).unwrap_or(d))
            )
        })
        .collect();
    let summary = serde_json::json!({
        "valid": true,
        "digest": verified.digest,
        "predicate_type": verified.statement.predicate_type,
        "signers": verified.signers,
        "subjects": verified.statement.subject,
        "artifacts_matched": matched,
    });
    ctx.print(&summary, |_| {
        format!(
            "OK: {} signed by {} — subjects: {}{}",
            verified.statement.predicate_type,
            verified.signers.join(", "),
            subjects.join(", "),
            if matched.is_empty() {
                String::new()
            } else {
                format!(" — artifacts matched: {}", matched.join(", "))
            }
        )
    });
    Ok(())
}

fn describe(o: &IngestOutcome) -> String {
    if let Some(r) = &o.refusal {
        return format!("#{} refused: {r}", o.index);
    }
    let digest = o.digest.as_deref().unwrap_or("-");
    o.bindings
        .iter()
        .map(|b| match (&b.refusal, b.already_present) {
            (Some(r), _) => format!("#{} {digest} refused for {}@{}: {r}", o.index, b.application, b.version),
            (None, true) => format!(
                "#{} {digest} already present for {}@{}",
                o.index, b.application, b.version
            ),
            (None, false) => format!("#{} {digest} verified for {}@{}", o.index, b.application, b.version),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, Failure> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| usage(format!("cannot read standard input: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

fn sha256_file(path: &Path) -> Result<String, Failure> {
    let mut file = std::fs::File::open(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(hex::encode(hasher.finalize()))
}
