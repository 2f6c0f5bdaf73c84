//! A request's method, path and query, as the router and query parser read them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (method, rest) = text.split_once(' ').unwrap_or(("GET", text));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let matched = http::Method::from_bytes(method.as_bytes())
        .ok()
        .and_then(|method| gatehouse::api::routes::find(&method, path).ok());
    if let Ok(q) = gatehouse::api::Query::parse(query) {
        let _ = q.limit();
        let _ = q.int("after");
        let _ = q.bool("verified");
        if let Some(m) = matched {
            let _ = q.only(m.route.query);
        }
    }
});
