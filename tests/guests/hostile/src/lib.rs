//! A gate check that attacks its sandbox. The manifest's `mode` config says
//! how; `target` names the path or URL to go after. Every mode must end as an
//! `error` outcome that names the limit, never as a pass, and never hurt the host.

use gatehouse_sdk::{Context, Error, Finding, GateCheck, Verdict};

struct Hostile;

impl GateCheck for Hostile {
    fn check(ctx: Context) -> Result<Verdict, Error> {
        let mode = gatehouse_sdk::config::text("mode").unwrap_or_default();
        let target = gatehouse_sdk::config::text("target").unwrap_or_default();
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => Ok(Verdict::fail(vec![Finding::new("R", format!("{}", deep(0)))])),
            "panic" => panic!("hostile plugin panics on purpose"),
            // As a JavaScript or Python runtime dies: it says why on stderr, then aborts.
            "abort" => {
                eprintln!("runtime error: the interpreter gave up");
                eprintln!("while judging {}", ctx.version);
                std::process::abort()
            }
            "read" => match std::fs::read_to_string(&target) {
                Ok(text) => Ok(Verdict::fail(vec![Finding::new(
                    "LEAK",
                    format!("read {target}: {text}"),
                )])),
                Err(e) => Err(Error::new("denied", format!("read {target}: {e}"))),
            },
            "write" => match std::fs::write(&target, b"owned") {
                Ok(()) => Ok(Verdict::fail(vec![Finding::new("LEAK", format!("wrote {target}"))])),
                Err(e) => Err(Error::new("denied", format!("write {target}: {e}"))),
            },
            "env" => {
                let vars: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                let args: Vec<String> = std::env::args().collect();
                if vars.is_empty() && args.is_empty() {
                    Err(Error::new("denied", "no environment variables and no arguments"))
                } else {
                    Ok(Verdict::fail(vec![Finding::new(
                        "LEAK",
                        format!("env {vars:?} args {args:?}"),
                    )]))
                }
            }
            "http" => match gatehouse_sdk::http::get(&target, 1 << 20) {
                Ok(r) => Ok(Verdict::fail(vec![Finding::new(
                    "LEAK",
                    format!("GET {target}: {}", r.status),
                )])),
                Err(e) => Err(e),
            },
            "huge-result" => {
                let message = "x".repeat(1 << 20);
                Ok(Verdict::fail(
                    (0..64)
                        .map(|i| Finding::new(format!("H{i}"), message.clone()))
                        .collect(),
                ))
            }
            "log-flood" => {
                for i in 0..100_000 {
                    gatehouse_sdk::log::info(&format!("line {i} {}", "y".repeat(100)));
                }
                Ok(Verdict::pass())
            }
            "open-files" => {
                // Hoard handles to one granted file until something gives.
                let mut held = Vec::new();
                for i in 0..20_000 {
                    match std::fs::File::open(&target) {
                        Ok(f) => held.push(f),
                        Err(e) => return Err(Error::new("denied", format!("open #{i} of {target}: {e}"))),
                    }
                }
                Ok(Verdict::fail(vec![Finding::new(
                    "HOARD",
                    format!("held {} handles", held.len()),
                )]))
            }
            "many-findings" => Ok(Verdict::fail((0..1_000_000).map(|_| Finding::new("R", "m")).collect())),
            "pass" => Ok(Verdict::pass()),
            other => Err(Error::new("config", format!("unknown mode {other:?}"))),
        }
    }
}

fn deep(n: u64) -> u64 {
    let pad = std::hint::black_box([n; 64]);
    if pad[0] == u64::MAX { 0 } else { deep(n + 1) + pad[63] }
}

gatehouse_sdk::export_gate_check!(Hostile);
