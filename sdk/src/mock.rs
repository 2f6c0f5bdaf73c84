//! What the host's imports do when plugin code runs natively, as under
//! `cargo test`: each thread holds its own host state (config, outbound HTTP
//! answers, the lines logged), empty until a test installs a
//! [`MockHost`](crate::testing::MockHost) (feature `testing`). Built only off
//! `wasm32`, so a real component always calls the real host.

use std::cell::RefCell;

use crate::http::Response;
use crate::{ConfigValue, Error, Level};

#[derive(Default)]
pub(crate) struct State {
    pub(crate) config: Vec<(String, ConfigValue)>,
    pub(crate) http: Vec<(String, u16, Vec<u8>)>,
    pub(crate) logs: Vec<(Level, String)>,
}

thread_local! {
    pub(crate) static STATE: RefCell<State> = RefCell::new(State::default());
}

pub(crate) fn config(key: &str) -> Option<ConfigValue> {
    STATE.with(|s| {
        let state = s.borrow();
        state.config.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    })
}

pub(crate) fn config_keys() -> Vec<String> {
    STATE.with(|s| s.borrow().config.iter().map(|(k, _)| k.clone()).collect())
}

pub(crate) fn log(level: Level, message: &str) {
    STATE.with(|s| s.borrow_mut().logs.push((level, message.to_owned())));
}

/// An answer the test gave for exactly this URL; any other URL is refused
/// the way the host refuses a host outside `allowed_hosts`.
pub(crate) fn http_get(url: &str, max_body: usize) -> Result<Response, Error> {
    STATE.with(|s| {
        let state = s.borrow();
        let Some((_, status, body)) = state.http.iter().find(|(u, _, _)| u == url) else {
            return Err(Error::new(
                "http-denied",
                format!("{url}: the host refused the request (the mock host has no answer for it)"),
            ));
        };
        if body.len() > max_body {
            return Err(Error::new("too-large", format!("{url}: body over {max_body} bytes")));
        }
        Ok(Response {
            status: *status,
            body: body.clone(),
        })
    })
}
