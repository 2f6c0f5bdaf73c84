//! Gatehouse: a self-hosted release-governance engine. A build becomes an
//! application version; it climbs a lifecycle only through policy gates; every
//! change is recorded in a hash-chained activity log.
//!
//! Modules follow the domain: [`app`], [`version`], [`lifecycle`] (the state
//! machine), [`gate`] (the pure gate engine), [`audit`] (the activity log),
//! [`service`] (the use cases), [`store`] (the only module that speaks SQL),
//! [`api`] (the only module that speaks HTTP) and [`cli`].

pub mod access;
pub mod api;
pub mod app;
pub mod audit;
pub mod binding;
pub mod cli;
pub mod config;
pub mod deadline;
pub mod document;
pub mod error;
pub mod evidence;
pub mod gate;
pub mod keys;
pub mod lifecycle;
pub mod metrics;
pub mod notify;
pub mod plugin;
pub mod policy;
pub mod release;
pub mod sbom;
pub mod service;
pub mod store;
pub mod text;
pub mod time;
pub mod version;
pub mod vuln;
pub mod waiver;

pub use error::{Error, Result};
pub use service::Gatehouse;
