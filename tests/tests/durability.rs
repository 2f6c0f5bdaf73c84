//! Crash safety and concurrency against the real server process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use gatehouse_e2e::{Server, seed, sha, try_request};
use serde_json::json;

#[test]
fn acknowledged_writes_survive_sigkill_and_the_chain_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let addr = server.addr;
    let token = server.token("writer");
    let stop = Arc::new(AtomicBool::new(false));
    let acked_total = Arc::new(AtomicUsize::new(0));
    // (application key, whether its version's promotion to dev was acknowledged)
    let acked: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();

    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, acked, acked_total, token) = (stop.clone(), acked.clone(), acked_total.clone(), token.clone());
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let key = format!("app-{w}-{i}");
                    let body = json!({ "key": key }).to_string();
                    match try_request(addr, "POST", "/v1/applications", Some(body.as_bytes()), Some(&token)) {
                        Ok((201, _)) => {}
                        _ => return, // the server died mid-request: not acknowledged
                    }
                    acked.lock().unwrap().push((key.clone(), false));
                    let v =
                        json!({ "version": "1.0.0", "artifacts": [{ "name": "a", "kind": "file", "sha256": sha(3) }] })
                            .to_string();
                    if !matches!(
                        try_request(
                            addr,
                            "POST",
                            &format!("/v1/applications/{key}/versions"),
                            Some(v.as_bytes()),
                            Some(&token)
                        ),
                        Ok((201, _))
                    ) {
                        return;
                    }
                    let p = json!({ "target_stage": "dev" }).to_string();
                    let path = format!("/v1/applications/{key}/versions/1.0.0/promote");
                    if !matches!(
                        try_request(addr, "POST", &path, Some(p.as_bytes()), Some(&token)),
                        Ok((200, _))
                    ) {
                        return;
                    }
                    if let Some(last) = acked.lock().unwrap().iter_mut().rev().find(|(k, _)| *k == key) {
                        last.1 = true;
                    }
                    acked_total.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // Kill in the middle of the stream, once plenty of writes are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked_total.load(Ordering::Relaxed) < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 60,
        "the stream was running when the process was killed ({} acks)",
        acked.len()
    );

    let server = Server::start(dir.path());
    for (key, promoted) in &acked {
        let (s, body) = server.get(&format!("/v1/applications/{key}"));
        assert_eq!(s, 200, "acknowledged application {key} lost: {body}");
        if *promoted {
            let (s, v) = server.get(&format!("/v1/applications/{key}/versions/1.0.0"));
            assert_eq!(s, 200);
            assert_eq!(v["stage"], "dev", "acknowledged promotion of {key} lost");
        }
    }
    let (_, report) = server.get("/v1/activity/verify");
    assert!(report["broken"].is_null(), "{report}");
    assert!(report["events"].as_u64().unwrap() >= 3 * acked.iter().filter(|(_, p)| *p).count() as u64);
}

#[test]
fn of_32_simultaneous_promotions_exactly_one_wins_and_every_attempt_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    seed(&server, "payments", "1.0.0");
    let addr = server.addr;
    let barrier = Arc::new(Barrier::new(32));
    let tokens: Vec<String> = (0..32).map(|i| server.token(&format!("racer-{i}"))).collect();
    let handles: Vec<_> = tokens
        .into_iter()
        .map(|token| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let body = json!({ "target_stage": "dev" }).to_string();
                barrier.wait();
                try_request(
                    addr,
                    "POST",
                    "/v1/applications/payments/versions/1.0.0/promote",
                    Some(body.as_bytes()),
                    Some(&token),
                )
                .unwrap()
            })
        })
        .collect();
    let results: Vec<(u16, serde_json::Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let wins = results.iter().filter(|(s, _)| *s == 200).count();
    let conflicts: Vec<_> = results.iter().filter(|(s, _)| *s == 409).collect();
    assert_eq!(wins, 1, "{results:?}");
    assert_eq!(conflicts.len(), 31, "{results:?}");
    for (_, body) in &conflicts {
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("already in stage dev") || message.contains("changed by another request"),
            "{message}"
        );
    }

    let (_, v) = server.get("/v1/applications/payments/versions/1.0.0");
    assert_eq!(v["stage"], "dev");
    assert_eq!(v["revision"], 2, "the stage was applied exactly once");
    let (_, log) = server.get("/v1/activity?action=version.promote");
    let events = log["items"].as_array().unwrap();
    assert_eq!(events.len(), 32, "every attempt is in the log");
    assert_eq!(events.iter().filter(|e| e["result"] == "success").count(), 1);
    assert_eq!(events.iter().filter(|e| e["result"] == "failure").count(), 31);
    let actors: std::collections::BTreeSet<&str> = events.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(actors.len(), 32);

    // The next stage is still reachable exactly once, and nothing was skipped.
    let (s, _) = server.post(
        "/v1/applications/payments/versions/1.0.0/promote",
        &json!({ "target_stage": "qa" }),
    );
    assert_eq!(s, 200);
    let (_, report) = server.get("/v1/activity/verify");
    assert!(report["broken"].is_null());
}
