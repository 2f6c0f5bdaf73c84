//! Gatehouse: a self-hosted release-governance engine. A build becomes an
//! application version; it climbs a lifecycle only through policy gates; every
//! change is recorded in a hash-chained activity log.
//!
//! The binary's crate: [`service`] (the use cases), [`api`] (the only module
//! that speaks HTTP), [`cli`] and [`config`]. What it builds on lives in crates
//! of its own, re-exported here under their domain names: the pure core
//! (`gatehouse-core`: [`app`], [`version`], [`lifecycle`], [`gate`], [`audit`],
//! …), the policy engine ([`policy`], regorus), the plugin runtime
//! ([`plugin`], wasmtime) and the store ([`store`], SQLite).

pub mod api;
pub mod cli;
pub mod config;
pub mod feed;
pub(crate) mod metrics;
pub(crate) mod notify;
pub mod service;

pub use gatehouse_core::{
    access, app, audit, binding, cores, document, error, evidence, gate, keys, lifecycle, release, sbom, schema, text,
    time, version, vuln, waiver,
};
pub use gatehouse_plugin as plugin;
pub use gatehouse_policy as policy;
pub use gatehouse_store as store;
pub use gatehouse_store::deadline;

pub use error::{Error, Result};
pub use service::Gatehouse;
