//! Gatehouse's domain, with no I/O: what an application, a version and a
//! lifecycle are; the gate engine (a pure function from context, checks and
//! waivers to a verdict); waivers and bindings; evidence verification (DSSE,
//! in-toto); the activity-log chain format; Trusted Release records; SBOM
//! reading and OSV matching. It builds none of wasmtime, rusqlite or regorus:
//! the plugin runtime, the store and the policy engine are crates of their own
//! that depend on this one.

pub mod access;
pub mod app;
pub mod audit;
pub mod binding;
pub mod cores;
pub mod document;
pub mod error;
pub mod evidence;
pub mod gate;
pub mod keys;
pub mod lifecycle;
pub mod policy;
pub mod release;
pub mod sbom;
pub mod schema;
pub mod text;
pub mod time;
pub mod version;
pub mod vuln;
pub mod waiver;

pub use error::{Error, Result};
