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
    /// Verify offline, exit 0 when valid, 1 when refused: a DSSE envelope
    /// against one public key (--key), or a Sigstore bundle against a trusted
    /// root (--trusted-root), optionally requiring the signer's identity and issuer.
    #[command(group = clap::ArgGroup::new("verifier").required(true).args(["key", "trusted_root"]))]
    Verify {
        /// The signer's public key (SPKI PEM or raw hex), for a DSSE envelope.
        #[arg(long, conflicts_with = "trusted_root")]
        key: Option<PathBuf>,
        /// A Sigstore trusted_root.json (repeatable: any root that holds the bundle's log judges it).
        #[arg(long = "trusted-root")]
        trusted_root: Vec<PathBuf>,
        /// The envelope, or the Sigstore bundle ('-' for stdin).
        envelope: PathBuf,
        /// A file that must be what was signed: a subject of the statement, or the
        /// blob of a message signature (repeatable for statements).
        #[arg(long = "artifact")]
        artifacts: Vec<PathBuf>,
        /// The certificate identity (SAN) a bundle must carry, exactly.
        #[arg(long, requires = "trusted_root")]
        identity: Option<String>,
        /// The OIDC issuer a bundle's certificate must carry, exactly.
        #[arg(long, requires = "trusted_root")]
        issuer: Option<String>,
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
            key: Some(key),
            envelope,
            artifacts,
            ..
        } => verify_offline(ctx, &key, &envelope, &artifacts)?,
        Command::Verify {
            key: None,
            trusted_root,
            envelope,
            artifacts,
            identity,
            issuer,
        } => verify_bundle(ctx, &trusted_root, &envelope, &artifacts, identity, issuer)?,
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

fn verify_bundle(
    ctx: &Ctx,
    roots: &[PathBuf],
    bundle: &Path,
    artifacts: &[PathBuf],
    identity: Option<String>,
    issuer: Option<String>,
) -> CmdResult {
    let roots = roots
        .iter()
        .map(|p| {
            let name = p.display().to_string();
            gatehouse_sigstore::TrustedRoot::parse(&name, &read_bytes(p)?)
                .map_err(|e| usage(format!("--trusted-root {name}: {e}")))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let bytes = read_bytes(bundle)?;
    if !serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| gatehouse_sigstore::is_bundle(&v)) {
        return Err(usage(format!(
            "{} is not a Sigstore bundle (no mediaType application/vnd.dev.sigstore.bundle…); \
             verify a raw DSSE envelope with --key",
            bundle.display()
        )));
    }
    let expect = gatehouse_sigstore::Expect { identity, issuer };
    let blobs = artifacts
        .iter()
        .map(|a| read_bytes(a))
        .collect::<Result<Vec<_>, Failure>>()?;
    let refused = Failure::refusal;
    let verified =
        gatehouse_sigstore::verify(&roots, &bytes, blobs.first().map(Vec::as_slice), &expect).map_err(refused)?;
    let mut matched: Vec<String> = artifacts.first().map(|a| a.display().to_string()).into_iter().collect();
    let mut statement = None;
    if let gatehouse_sigstore::Content::Dsse { payload, .. } = &verified.content {
        let st = evidence::parse_statement(payload).map_err(refused)?;
        for a in artifacts.iter().skip(1) {
            let digest = sha256_file(a)?;
            evidence::check_binding(&st, [digest.as_str()], &format!("artifact {}", a.display())).map_err(refused)?;
            matched.push(a.display().to_string());
        }
        statement = Some(st);
    } else if artifacts.len() > 1 {
        return Err(usage(
            "a message signature is over one blob: give one --artifact".into(),
        ));
    }
    let s = &verified.signer;
    let summary = serde_json::json!({
        "valid": true,
        "media_type": verified.media_type,
        "signer": {
            "identity": s.identity,
            "issuer": s.issuer,
            "claims": s.claims,
            "log_index": s.log_index,
            "integrated_time": s.integrated_time,
            "signed_times": s.signed_times,
            "trusted_root": s.trusted_root,
        },
        "predicate_type": statement.as_ref().map(|st| st.predicate_type.clone()),
        "subjects": statement.as_ref().map(|st| st.subject.clone()),
        "message_sha256": match &verified.content {
            gatehouse_sigstore::Content::Message { sha256 } => sha256.clone(),
            gatehouse_sigstore::Content::Dsse { .. } => None,
        },
        "artifacts_matched": matched,
    });
    ctx.print(&summary, |_| {
        let what = statement
            .as_ref()
            .map_or_else(|| "message signature".to_string(), |st| st.predicate_type.clone());
        let mut lines = vec![format!(
            "OK: {what} signed by {} (issuer {}), log index {}, trusted root {}",
            s.identity,
            s.issuer,
            s.log_index.map_or_else(|| "-".to_string(), |i| i.to_string()),
            s.trusted_root
        )];
        for (k, v) in &s.claims {
            lines.push(format!("  {k}: {v}"));
        }
        if !matched.is_empty() {
            lines.push(format!("  artifacts matched: {}", matched.join(", ")));
        }
        lines.join("\n")
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
