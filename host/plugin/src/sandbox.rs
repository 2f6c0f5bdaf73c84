//! The one place wasmtime lives: one engine per process (pooling allocator,
//! epoch interruption, fuel), components compiled once and cached on disk by
//! digest, `InstancePre` per plugin, and a fresh store per call with the
//! plugin's limits. Calls run on the plugin runtime's own tokio runtime with
//! async bindings, under a wall-clock deadline that also covers time spent
//! waiting in host calls (HTTP, sleeping); a store is dropped after every call,
//! trapped or not.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::manifest::{Capabilities, ConfigValue, HOST_MAX_MEMORY_BYTES, Manifest, World};
use super::{CallContext, Failure, Finding, Outcome, Severity, Statement, Verdict};

mod bindings {
    pub mod gate_check {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "gatehouse:plugin/gate-check@0.1.0",
            exports: { default: async },
        });
    }
    pub mod collector {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "gatehouse:plugin/collector@0.1.0",
            exports: { default: async },
            with: {
                "gatehouse:plugin/types@0.1.0": super::gate_check::gatehouse::plugin::types,
                "gatehouse:plugin/host@0.1.0": super::gate_check::gatehouse::plugin::host,
            },
        });
    }
}

use bindings::gate_check::gatehouse::plugin::{host as wit_host, types as wit};

/// How often the epoch ticks: the granularity of `timeout_ms`.
const TICK: Duration = Duration::from_millis(1);
/// Concurrent sandboxes the pool holds, unless `plugin_pool_size` says otherwise.
pub const DEFAULT_POOL_SIZE: u32 = 128;
/// The most the setting may ask for (each slot reserves address space for
/// `HOST_MAX_MEMORY_BYTES` of linear memory).
pub const MAX_POOL_SIZE: u32 = 1024;
/// Handles a call needs besides the files it opens: stdio, its streams and
/// pollables, an HTTP request's objects.
const HANDLES_BESIDE_FILES: usize = 32;
/// Findings one gate-check call may return, and statements one collector call.
pub const MAX_FINDINGS: usize = 10_000;
pub const MAX_STATEMENTS: usize = 1_000;
/// What each finding or statement costs beside its strings, counted against
/// `max_output_bytes` (what it takes once stored and served).
const ITEM_OVERHEAD: u64 = 64;
const MAX_WASM_STACK: usize = 512 * 1024;
/// Bytes of each linear memory slot kept resident between sandboxes (a Rust
/// guest's data, stack and early heap fit).
const KEEP_RESIDENT: usize = 2 * 1024 * 1024;

/// The engine, the linker with every import a plugin may use, and the runtime calls run on.
pub struct Sandboxes {
    engine: Engine,
    linker: Linker<SandboxState>,
    /// Always Some until dropped; taken then, so it can shut down without blocking
    /// (the last owner may be dropped inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    cache_dir: Option<PathBuf>,
    ticking: Arc<AtomicBool>,
    pool_size: u32,
}

impl Drop for Sandboxes {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A component compiled and linked, ready for fresh instances.
pub enum Prepared {
    GateCheck(bindings::gate_check::GateCheckPre<SandboxState>),
    Collector(bindings::collector::CollectorPre<SandboxState>),
}

impl Sandboxes {
    pub fn new(cache_dir: Option<&Path>, pool_size: u32) -> Result<Sandboxes, String> {
        let pool_size = pool_size.clamp(1, MAX_POOL_SIZE);
        let mut pool = PoolingAllocationConfig::new();
        // Totals are the per-component maxima times the sandboxes: with less,
        // a component near a maximum (a componentize-py collector has more
        // than 8 core instances) could not run in a one-slot host (plugin run)
        // and would take two slots' share in a sidecar.
        pool.total_component_instances(pool_size)
            .total_core_instances(pool_size * 16)
            .total_memories(pool_size * 2)
            .total_tables(pool_size * 8)
            .total_stacks(pool_size)
            .max_memories_per_component(2)
            .max_tables_per_component(8)
            .max_core_instances_per_component(16)
            .max_memory_size(usize::try_from(HOST_MAX_MEMORY_BYTES).unwrap_or(usize::MAX))
            // A fresh sandbox per call: reset the first pages of a slot in place
            // rather than giving them back and faulting them in again.
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(64 * 1024)
            .async_stack_keep_resident(MAX_WASM_STACK)
            // Where the kernel can say which pages a sandbox touched (Linux 6.7+),
            // only those are reset.
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(true)
            .max_wasm_stack(MAX_WASM_STACK)
            .async_stack_size(MAX_WASM_STACK * 4)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| format!("cannot start the plugin engine: {e}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| format!("linking WASI: {e}"))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(|e| format!("linking wasi:http: {e}"))?;
        bindings::gate_check::GateCheck::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)
            .map_err(|e| format!("linking the host interface: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gatehouse-plugins")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the plugin runtime: {e}"))?;
        let ticking = Arc::new(AtomicBool::new(true));
        let (weak, flag) = (engine.weak(), ticking.clone());
        std::thread::Builder::new()
            .name("gatehouse-plugin-epoch".into())
            .spawn(move || {
                while flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| format!("cannot start the epoch ticker: {e}"))?;
        // A cache directory others can write would let them swap in another
        // component's compilation under a signed plugin's digest: not used.
        let cache_dir = cache_dir.and_then(|dir| match cache::usable_dir(dir) {
            Ok(()) => Some(dir.to_path_buf()),
            Err(why) => {
                tracing::warn!(dir = %dir.display(), "not using the plugin cache: {why}; every plugin is compiled at start");
                None
            }
        });
        Ok(Sandboxes {
            engine,
            linker,
            runtime: Some(runtime),
            cache_dir,
            ticking,
            pool_size,
        })
    }

    /// Compile (or load the cached compilation of) a component and link it
    /// against the world its manifest names.
    pub fn prepare(&self, wasm: &[u8], digest: &str, world: World) -> Result<Prepared, String> {
        let component = self.component(wasm, digest)?;
        let pre: InstancePre<SandboxState> = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("the component needs imports the sandbox does not offer: {e:#}"))?;
        Ok(match world {
            World::GateCheck => {
                Prepared::GateCheck(bindings::gate_check::GateCheckPre::new(pre).map_err(|e| {
                    format!("the component does not implement gatehouse:plugin/gate-check@0.1.0: {e:#}")
                })?)
            }
            World::Collector => Prepared::Collector(
                bindings::collector::CollectorPre::new(pre)
                    .map_err(|e| format!("the component does not implement gatehouse:plugin/collector@0.1.0: {e:#}"))?,
            ),
        })
    }

    fn component(&self, wasm: &[u8], digest: &str) -> Result<Component, String> {
        let cached = self.cache_dir.as_ref().map(|dir| {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            self.engine.precompile_compatibility_hash().hash(&mut h);
            dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
        });
        if let Some(path) = &cached
            && path.is_file()
        {
            match cache::usable_file(path) {
                Ok(()) => {
                    if let Some(c) = load_compiled(&self.engine, path) {
                        return Ok(c);
                    }
                }
                Err(why) => {
                    tracing::warn!(path = %path.display(), "not loading a cached compilation: {why}; compiling again");
                    // Replaced below by this compilation (rename over it).
                }
            }
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| format!("not a valid component: {e:#}"))?;
        if let Some(path) = &cached
            && let Ok(bytes) = component.serialize()
        {
            // A cache that cannot be written only costs the next start a compilation.
            let _ = write_atomically(path, &bytes);
        }
        Ok(component)
    }

    /// Run `check` in a fresh sandbox.
    pub fn check(&self, prepared: &Prepared, manifest: &Manifest, ctx: &CallContext) -> Called<Verdict> {
        let Prepared::GateCheck(pre) = prepared else {
            return Called::refused(format!("{} is a collector, not a gate check", manifest.name));
        };
        let wit_ctx = to_wit(ctx);
        let (answer, log, fuel_used) = self.run(manifest, async |store| {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance.call_check(&mut *store, &wit_ctx).await
        });
        Called {
            result: answer.and_then(|(answer, limits)| {
                answer
                    .map_err(|e| plugin_error(e, &manifest.capabilities))
                    .and_then(|v| verdict(v, &limits))
            }),
            log,
            fuel_used,
        }
    }

    /// Run `collect` in a fresh sandbox.
    pub fn collect(&self, prepared: &Prepared, manifest: &Manifest, ctx: &CallContext) -> Called<Vec<Statement>> {
        let Prepared::Collector(pre) = prepared else {
            return Called::refused(format!("{} is a gate check, not a collector", manifest.name));
        };
        let wit_ctx = to_wit(ctx);
        let (answer, log, fuel_used) = self.run(manifest, async |store| {
            let instance = pre.instantiate_async(&mut *store).await?;
            instance.call_collect(&mut *store, &wit_ctx).await
        });
        Called {
            result: answer.and_then(|(answer, limits)| {
                answer
                    .map_err(|e| plugin_error(e, &manifest.capabilities))
                    .and_then(|s| statements(s, &limits))
            }),
            log,
            fuel_used,
        }
    }

    /// Instantiate a gate check once, for repeated calls in the same sandbox.
    pub fn warm(&self, prepared: &Prepared, manifest: &Manifest) -> Result<Warm, Failure> {
        let Prepared::GateCheck(pre) = prepared else {
            return Err(Failure::Unavailable(format!("{} is not a gate check", manifest.name)));
        };
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| Failure::Unavailable("the plugin runtime has shut down".into()))?;
        let mut store = Store::new(&self.engine, SandboxState::new(manifest).map_err(Failure::Unavailable)?);
        store.limiter(|s| &mut s.limiter);
        arm(&mut store, manifest).map_err(Failure::Unavailable)?;
        let instance = runtime.block_on(pre.instantiate_async(&mut store)).map_err(|e| {
            if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
                no_sandbox_free(self.pool_size)
            } else {
                Failure::Trap(describe(&e))
            }
        })?;
        Ok(Warm {
            store,
            instance,
            poisoned: false,
            max_output: manifest.capabilities.max_output_bytes,
            manifest: manifest.clone(),
        })
    }

    /// Call `check` again in a warm sandbox, with the deadline and fuel re-armed.
    /// After any failure the sandbox is poisoned and refuses further calls.
    pub fn call_warm(&self, warm: &mut Warm, ctx: &CallContext) -> Result<Verdict, Failure> {
        if warm.poisoned {
            return Err(Failure::Unavailable(
                "this sandbox trapped earlier; start a new one".into(),
            ));
        }
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| Failure::Unavailable("the plugin runtime has shut down".into()))?;
        arm(&mut warm.store, &warm.manifest).map_err(Failure::Unavailable)?;
        let wit_ctx = to_wit(ctx);
        let deadline = Duration::from_millis(warm.manifest.capabilities.timeout_ms);
        let (instance, store) = (&warm.instance, &mut warm.store);
        let answer = runtime.block_on(async {
            tokio::time::timeout(deadline, instance.call_check(&mut *store, &wit_ctx))
                .await
                .ok()
        });
        let limits = Limits {
            max_output: warm.max_output,
        };
        match answer {
            Some(Ok(Ok(v))) => verdict(v, &limits),
            Some(Ok(Err(e))) => Err(plugin_error(e, &warm.manifest.capabilities)),
            Some(Err(e)) => {
                warm.poisoned = true;
                Err(Failure::Trap(describe(&e)))
            }
            None => {
                warm.poisoned = true;
                Err(Failure::Timeout {
                    limit_ms: warm.manifest.capabilities.timeout_ms,
                })
            }
        }
    }

    /// One call: a fresh store with the manifest's limits, the deadline armed,
    /// and every way the call can go wrong turned into a [`Failure`].
    /// Also the log lines it wrote and the fuel it used (None when it never ran).
    #[allow(clippy::type_complexity)]
    fn run<R>(
        &self,
        manifest: &Manifest,
        call: impl AsyncFnOnce(&mut Store<SandboxState>) -> wasmtime::Result<R>,
    ) -> (Result<(R, Limits), Failure>, Vec<LogLine>, Option<u64>) {
        let caps = &manifest.capabilities;
        let limits = Limits::of(manifest);
        let state = match SandboxState::new(manifest) {
            Ok(s) => s,
            Err(e) => return (Err(Failure::Unavailable(e)), Vec::new(), None),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        let fuel = caps.max_fuel.unwrap_or(u64::MAX);
        if store.set_fuel(fuel).is_err() {
            return (
                Err(Failure::Unavailable("fuel is not enabled in this engine".into())),
                Vec::new(),
                None,
            );
        }
        let ticks = caps.timeout_ms.div_ceil(u64::try_from(TICK.as_millis()).unwrap_or(1)) + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        let deadline = Duration::from_millis(caps.timeout_ms);
        let Some(runtime) = &self.runtime else {
            return (
                Err(Failure::Unavailable("the plugin runtime has shut down".into())),
                Vec::new(),
                None,
            );
        };
        let outcome = runtime.block_on(async { tokio::time::timeout(deadline, call(&mut store)).await.ok() });
        let fuel_used = store.get_fuel().ok().map(|left| fuel.saturating_sub(left));
        let state = store.into_data();
        let denied = state.hooks.denied.first().cloned();
        let exceeded = state.limiter.exceeded;
        let stdio_full = state.stdio_full(caps.max_log_bytes);
        let log = state.into_log().lines;
        let result = match outcome {
            None => Err(Failure::Timeout {
                limit_ms: caps.timeout_ms,
            }),
            Some(Ok(r)) => match denied {
                Some(denied) => Err(Failure::Capability(denied)),
                None => Ok((r, limits)),
            },
            Some(Err(e)) => {
                let failure = if let Some(denied) = denied {
                    Failure::Capability(denied)
                } else if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
                    no_sandbox_free(self.pool_size)
                } else if e.chain().any(|c| {
                    matches!(
                        c.downcast_ref::<wasmtime::component::ResourceTableError>(),
                        Some(wasmtime::component::ResourceTableError::Full)
                    )
                }) {
                    Failure::OpenFiles {
                        limit: caps.max_open_files,
                    }
                } else if let Some(bytes) = exceeded {
                    Failure::Memory {
                        limit: caps.max_memory_bytes,
                        requested: bytes as u64,
                    }
                } else if let Some(stream) = stdio_full {
                    Failure::Trap(format!(
                        "it wrote more than max_log_bytes ({}) to {stream}, and the failed write ended it: {}",
                        caps.max_log_bytes,
                        describe(&e)
                    ))
                } else {
                    match e.downcast_ref::<Trap>() {
                        Some(Trap::Interrupt) => Failure::Timeout {
                            limit_ms: caps.timeout_ms,
                        },
                        Some(Trap::OutOfFuel) => Failure::Fuel {
                            limit: caps.max_fuel.unwrap_or(u64::MAX),
                        },
                        Some(Trap::StackOverflow) => Failure::StackOverflow,
                        Some(Trap::MemoryOutOfBounds) if recursing(&e) => Failure::StackOverflow,
                        _ => {
                            // A Rust panic prints "thread … panicked at FILE:LINE:COL:" and then its message.
                            let stderr: Vec<&str> = log
                                .iter()
                                .filter(|l| l.stream == "stderr")
                                .map(|l| l.text.trim())
                                .collect();
                            // A runtime written in Rust (componentize-py) panics
                            // after the guest language printed why: keep those lines too.
                            let panic = stderr.iter().rposition(|l| l.contains("panicked")).map(|i| {
                                let message = stderr.get(i + 1).copied().unwrap_or_default();
                                let before = stderr.get(i.saturating_sub(3)..i).unwrap_or_default().join(" | ");
                                format!(
                                    " after {}{}",
                                    truncate(
                                        &format!("{} {message}", stderr.get(i).copied().unwrap_or_default()),
                                        300
                                    ),
                                    if before.is_empty() {
                                        String::new()
                                    } else {
                                        format!("; before it: {}", truncate(&before, 400))
                                    }
                                )
                            });
                            // Any other guest (a JavaScript or Python runtime
                            // aborting, C's abort()) says why on stderr before
                            // it traps: its last lines go with the trap.
                            let last = || {
                                let from = stderr.len().saturating_sub(LAST_STDERR_LINES);
                                let tail = stderr.get(from..).unwrap_or_default().join(" | ");
                                (!tail.is_empty()).then(|| format!("; its last stderr lines: {}", truncate(&tail, 500)))
                            };
                            let context = panic.or_else(last).unwrap_or_default();
                            Failure::Trap(format!("{}{context}", describe(&e)))
                        }
                    }
                };
                Err(failure)
            }
        };
        (result, log, fuel_used)
    }
}

/// One call's answer, with what the plugin logged and the fuel it used.
pub struct Called<T> {
    pub result: Result<T, Failure>,
    pub log: Vec<LogLine>,
    /// None when the call never started.
    pub fuel_used: Option<u64>,
}

impl<T> Called<T> {
    fn refused(why: String) -> Called<T> {
        Called {
            result: Err(Failure::Unavailable(why)),
            log: Vec::new(),
            fuel_used: None,
        }
    }
}

/// Set the call's fuel and arm its epoch deadline (before every call).
fn arm(store: &mut Store<SandboxState>, manifest: &Manifest) -> Result<(), String> {
    let caps = &manifest.capabilities;
    store
        .set_fuel(caps.max_fuel.unwrap_or(u64::MAX))
        .map_err(|e| format!("cannot set fuel: {e}"))?;
    let ticks = caps.timeout_ms.div_ceil(u64::try_from(TICK.as_millis()).unwrap_or(1)) + 1;
    store.set_epoch_deadline(ticks);
    store.epoch_deadline_trap();
    Ok(())
}

/// One sandbox kept across calls (benchmarks, batch tools); gates never use one.
pub struct Warm {
    store: Store<SandboxState>,
    instance: bindings::gate_check::GateCheck,
    poisoned: bool,
    max_output: u64,
    manifest: Manifest,
}

/// The reason of a failed call, without the wasm backtrace.
/// How many of a trapped guest's last stderr lines its failure carries.
const LAST_STDERR_LINES: usize = 6;

fn describe(e: &wasmtime::Error) -> String {
    let text = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => e.root_cause().to_string(),
    };
    truncate(text.trim(), 500)
}

/// A Rust (or C) guest keeps its stack in linear memory: running off its end
/// is an out-of-bounds access deep in one recursing function, not a host
/// stack overflow. The captured backtrace is capped (20 frames): it is
/// recursion when every captured caller is the same function.
fn recursing(e: &wasmtime::Error) -> bool {
    e.downcast_ref::<wasmtime::WasmBacktrace>().is_some_and(|b| {
        let frames = b.frames();
        let caller = frames.get(1).map(|f| f.func_index());
        frames.len() >= 16 && frames.iter().skip(1).all(|f| Some(f.func_index()) == caller)
    })
}

#[allow(unsafe_code)]
fn load_compiled(engine: &Engine, path: &Path) -> Option<Component> {
    // SAFETY: `deserialize_file` trusts the file to be a compilation by this
    // engine. The file was written by this process (atomically, by rename)
    // under a name made of the component's SHA-256 and this engine's
    // compatibility hash, and wasmtime checks the engine configuration and
    // version recorded in it. Only a directory and file owned by this user
    // and writable by no one else get here (`cache::usable_*`): whoever can
    // write them runs as Gatehouse already and can change every record it keeps.
    unsafe { Component::deserialize_file(engine, path) }.ok()
}

/// Who may have written the plugin cache: only this user.
mod cache {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// This process's effective user id (Linux: /proc/self/status), when known.
    fn euid() -> Option<u32> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("Uid:"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    }

    fn owned_and_private(path: &Path, what: &str) -> Result<std::fs::Metadata, String> {
        let m = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read {what}: {e}"))?;
        if m.file_type().is_symlink() {
            return Err(format!("{what} is a symbolic link"));
        }
        if m.mode() & 0o022 != 0 {
            return Err(format!(
                "{what} is writable by group or others (mode {:o})",
                m.mode() & 0o777
            ));
        }
        if let Some(me) = euid()
            && m.uid() != me
        {
            return Err(format!(
                "{what} is owned by uid {}, not by this process's uid {me}",
                m.uid()
            ));
        }
        Ok(m)
    }

    /// The cache directory, created private if missing.
    pub fn usable_dir(dir: &Path) -> Result<(), String> {
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("cannot create it: {e}"))?;
        }
        owned_and_private(dir, "the directory").map(drop)
    }

    pub fn usable_file(path: &Path) -> Result<(), String> {
        owned_and_private(path, "the file").map(drop)
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    // Private whatever the umask: a cache file others can write is not loaded.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Limits checked on what a call returns.
pub struct Limits {
    max_output: u64,
}

impl Limits {
    fn of(m: &Manifest) -> Limits {
        Limits {
            max_output: m.capabilities.max_output_bytes,
        }
    }
}

fn to_wit(ctx: &CallContext) -> wit::Context {
    wit::Context {
        application: ctx.application.clone(),
        version: ctx.version.clone(),
        transition: wit::Transition {
            action: ctx.action.clone(),
            from_stage: ctx.from_stage.clone(),
            to_stage: ctx.to_stage.clone(),
            gate: ctx.gate.clone(),
        },
        params: ctx.params.clone(),
        input: ctx.input.clone(),
    }
}

fn plugin_error(e: wit::Error, caps: &Capabilities) -> Failure {
    let mut message = truncate(&e.message, 2000);
    if let Some(note) = ungranted(&message, &caps.allowed_paths) {
        message = format!("{message} ({note})");
    }
    Failure::Plugin {
        code: truncate(&e.code, 64),
        message,
    }
}

/// To a guest, a file outside every grant is simply missing (WASI shows it
/// nothing beyond its preopened directories) or, reached by `..` from a
/// grant, not permitted. When an error says so of absolute paths that no
/// grant covers, the host says what is granted.
fn ungranted(message: &str, allowed: &[PathBuf]) -> Option<String> {
    const REFUSED: [&str; 9] = [
        "No such file or directory",
        "no such file",
        "os error 44",
        "ENOENT",
        "FileNotFoundError",
        "Operation not permitted",
        "os error 63",
        "os error 76",
        "PermissionError",
    ];
    if !REFUSED.iter().any(|m| message.contains(m)) {
        return None;
    }
    let mut outside: Vec<String> = Vec::new();
    for token in message.split(|c: char| c.is_whitespace() || "'\"`:,;()[]{}".contains(c)) {
        if token.len() < 2 || !token.starts_with('/') {
            continue;
        }
        let path = lexical(Path::new(token));
        if !allowed.iter().any(|a| path.starts_with(a)) && !outside.contains(&token.to_string()) {
            outside.push(token.to_string());
        }
        if outside.len() == 3 {
            break;
        }
    }
    if outside.is_empty() {
        return None;
    }
    let grants = if allowed.is_empty() {
        "it is granted no paths".to_string()
    } else {
        let list: Vec<String> = allowed.iter().map(|p| p.display().to_string()).collect();
        format!("its allowed_paths: {}", list.join(", "))
    };
    Some(format!(
        "{} {} not granted to the plugin; {grants}",
        outside.join(", "),
        if outside.len() == 1 { "is" } else { "are" }
    ))
}

/// `..` and `.` resolved by name alone (the guest's path, not the host's files).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        s.to_string()
    } else {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

fn output_too_large(total: u64, limits: &Limits) -> Option<Failure> {
    (total > limits.max_output).then_some(Failure::OutputTooLarge {
        bytes: total,
        limit: limits.max_output,
    })
}

fn verdict(v: wit::Verdict, limits: &Limits) -> Result<Verdict, Failure> {
    if v.findings.len() > MAX_FINDINGS {
        return Err(Failure::TooMany {
            what: "findings",
            count: v.findings.len(),
            limit: MAX_FINDINGS,
        });
    }
    let total: u64 = v
        .findings
        .iter()
        .map(|f| {
            ITEM_OVERHEAD + (f.rule.len() + f.message.len() + f.remediation.as_ref().map_or(0, String::len)) as u64
        })
        .sum();
    if let Some(f) = output_too_large(total, limits) {
        return Err(f);
    }
    let mut findings = Vec::with_capacity(v.findings.len());
    for (i, f) in v.findings.into_iter().enumerate() {
        if f.rule.trim().is_empty() || f.message.trim().is_empty() {
            return Err(Failure::Malformed(format!(
                "findings[{i}] has an empty rule or message"
            )));
        }
        findings.push(Finding {
            rule: f.rule,
            message: f.message,
            severity: match f.severity {
                wit::Severity::Info => Severity::Info,
                wit::Severity::Low => Severity::Low,
                wit::Severity::Medium => Severity::Medium,
                wit::Severity::High => Severity::High,
                wit::Severity::Critical => Severity::Critical,
            },
            remediation: f.remediation,
        });
    }
    let outcome = match v.outcome {
        wit::Outcome::Pass => Outcome::Pass,
        wit::Outcome::Warn => Outcome::Warn,
        wit::Outcome::Fail => Outcome::Fail,
    };
    Ok(Verdict { outcome, findings })
}

fn statements(s: Vec<wit::Statement>, limits: &Limits) -> Result<Vec<Statement>, Failure> {
    if s.len() > MAX_STATEMENTS {
        return Err(Failure::TooMany {
            what: "statements",
            count: s.len(),
            limit: MAX_STATEMENTS,
        });
    }
    let total: u64 = s
        .iter()
        .map(|s| ITEM_OVERHEAD + (s.predicate_type.len() + s.predicate.len()) as u64)
        .sum();
    if let Some(f) = output_too_large(total, limits) {
        return Err(f);
    }
    s.into_iter()
        .enumerate()
        .map(|(i, s)| {
            let pt = s.predicate_type.trim();
            if pt.is_empty() || pt.chars().any(char::is_whitespace) {
                return Err(Failure::Malformed(format!(
                    "statements[{i}].predicate-type {:?} is not a type URI",
                    truncate(&s.predicate_type, 80)
                )));
            }
            let predicate: serde_json::Value = serde_json::from_str(&s.predicate)
                .map_err(|e| Failure::Malformed(format!("statements[{i}].predicate is not JSON: {e}")))?;
            if !predicate.is_object() {
                return Err(Failure::Malformed(format!(
                    "statements[{i}].predicate is not a JSON object"
                )));
            }
            Ok(Statement {
                predicate_type: s.predicate_type,
                predicate,
            })
        })
        .collect()
}

/// One line a plugin logged during a call.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub level: tracing::Level,
    pub stream: &'static str,
    pub text: String,
}

#[derive(Default)]
struct LogBudget {
    left: u64,
    dropped: u64,
    lines: Vec<LogLine>,
}

impl LogBudget {
    fn push(&mut self, level: tracing::Level, stream: &'static str, text: &str) {
        let cost = text.len() as u64;
        if cost > self.left {
            self.dropped += 1;
            return;
        }
        self.left -= cost;
        self.lines.push(LogLine {
            level,
            stream,
            text: text.to_string(),
        });
    }
}

/// Memory growth beyond the manifest's limit traps, and is remembered so the
/// failure can name the limit.
struct Limiter {
    max_memory: usize,
    exceeded: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.exceeded = Some(desired);
            return Err(wasmtime::Error::msg(format!(
                "memory limit of {} bytes exceeded",
                self.max_memory
            )));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }

    fn instances(&self) -> usize {
        32
    }
    fn tables(&self) -> usize {
        32
    }
    fn memories(&self) -> usize {
        4
    }
}

/// `wasi:http` requests go out only to allow-listed hosts; refusals are remembered.
struct AllowList {
    hosts: Vec<String>,
    timeout: Duration,
    denied: Vec<String>,
}

impl WasiHttpHooks for AllowList {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let uri = request.uri();
        let host = uri.host().unwrap_or_default().to_string();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        if !super::manifest::host_allowed(&self.hosts, &host, port) {
            self.denied.push(format!(
                "the plugin tried to reach {host}:{port}, which is not in its allowed_hosts ({})",
                if self.hosts.is_empty() {
                    "none granted".to_string()
                } else {
                    self.hosts.join(", ")
                }
            ));
            drop(fut);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let t = Some(self.timeout);
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: options.and_then(|o| o.connect_timeout).min(t).or(t),
            first_byte_timeout: options.and_then(|o| o.first_byte_timeout).min(t).or(t),
            between_bytes_timeout: options.and_then(|o| o.between_bytes_timeout).min(t).or(t),
        };
        drop(fut);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            ))
        })
    }
}

/// What one sandbox holds: WASI with only the granted directories, no
/// environment, arguments or stdin, stdout/stderr into a bounded buffer.
pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: AllowList,
    limiter: Limiter,
    config: Arc<std::collections::BTreeMap<String, ConfigValue>>,
    log: LogBudget,
    stdout: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    stderr: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
}

impl SandboxState {
    fn new(m: &Manifest) -> Result<SandboxState, String> {
        let caps = &m.capabilities;
        let budget = usize::try_from(caps.max_log_bytes).unwrap_or(usize::MAX);
        let stdout = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(budget);
        let stderr = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(budget);
        let mut b = WasiCtx::builder();
        b.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_blocking_current_thread(true)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for dir in &caps.allowed_paths {
            let guest = dir.to_string_lossy();
            b.preopened_dir(dir, guest.as_ref(), FsPerms::ReadOnly)
                .map_err(|e| format!("cannot open granted directory {}: {e}", dir.display()))?;
        }
        // Every open file, directory and stream is an entry of this table
        // (and most a host descriptor): bounded per call. Stdio and the
        // granted directories come on top of what the manifest grants.
        let mut table = ResourceTable::new();
        let base = caps.allowed_paths.len() + HANDLES_BESIDE_FILES;
        table.set_max_capacity(
            usize::try_from(caps.max_open_files)
                .unwrap_or(usize::MAX)
                .saturating_add(base),
        );
        Ok(SandboxState {
            wasi: b.build(),
            table,
            http: WasiHttpCtx::new(),
            hooks: AllowList {
                hosts: caps.allowed_hosts.clone(),
                timeout: Duration::from_millis(caps.timeout_ms),
                denied: Vec::new(),
            },
            limiter: Limiter {
                max_memory: usize::try_from(caps.max_memory_bytes).unwrap_or(usize::MAX),
                exceeded: None,
            },
            config: Arc::new(m.config.clone()),
            log: LogBudget {
                left: caps.max_log_bytes,
                ..LogBudget::default()
            },
            stdout,
            stderr,
        })
    }

    /// Which stdio pipe, if any, filled up (the guest's next write failed).
    fn stdio_full(&self, budget: u64) -> Option<&'static str> {
        [("stdout", &self.stdout), ("stderr", &self.stderr)]
            .into_iter()
            .find(|(_, p)| budget > 0 && p.contents().len() as u64 >= budget)
            .map(|(name, _)| name)
    }

    fn into_log(mut self) -> LogBudget {
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = pipe.contents();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                self.log.push(tracing::Level::INFO, stream, line);
            }
        }
        if self.log.dropped > 0 {
            let n = self.log.dropped;
            self.log.lines.push(LogLine {
                level: tracing::Level::WARN,
                stream: "host",
                text: format!("{n} log line(s) dropped: over max_log_bytes"),
            });
        }
        self.log
    }
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for SandboxState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl wit::Host for SandboxState {}

impl wit_host::Host for SandboxState {
    fn log(&mut self, level: wit_host::Level, message: String) {
        let level = match level {
            wit_host::Level::Trace => tracing::Level::TRACE,
            wit_host::Level::Debug => tracing::Level::DEBUG,
            wit_host::Level::Info => tracing::Level::INFO,
            wit_host::Level::Warn => tracing::Level::WARN,
            wit_host::Level::Error => tracing::Level::ERROR,
        };
        self.log.push(level, "log", &message);
    }

    fn config(&mut self, key: String) -> Option<wit_host::ConfigValue> {
        Some(match self.config.get(&key)? {
            ConfigValue::Text(s) => wit_host::ConfigValue::Text(s.clone()),
            ConfigValue::List(l) => wit_host::ConfigValue::List(l.clone()),
            ConfigValue::Boolean(b) => wit_host::ConfigValue::Boolean(*b),
            ConfigValue::Integer(i) => wit_host::ConfigValue::Integer(*i),
        })
    }

    fn config_keys(&mut self) -> Vec<String> {
        self.config.keys().cloned().collect()
    }
}

/// Every sandbox of the pool is running a call: this one fails closed at once
/// (no queue), and says so.
fn no_sandbox_free(pool_size: u32) -> Failure {
    Failure::Unavailable(format!(
        "no sandbox free: all {pool_size} sandboxes of the plugin pool (plugin_pool_size) are running calls; this call failed closed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_outside_every_grant_is_named_with_the_grants() {
        let granted = vec![PathBuf::from("/data/reports")];
        let note = ungranted("read /etc/passwd: No such file or directory (os error 44)", &granted).unwrap();
        assert_eq!(
            note,
            "/etc/passwd is not granted to the plugin; its allowed_paths: /data/reports"
        );
        let note = ungranted("open /data/reports/../secret: No such file or directory", &granted).unwrap();
        assert!(note.starts_with("/data/reports/../secret is not granted"), "{note}");
        let none = ungranted("FileNotFoundError: '/x/y'", &[]).unwrap();
        assert!(none.ends_with("it is granted no paths"), "{none}");
        // A file missing inside a grant is just missing; other errors are left alone.
        assert_eq!(
            ungranted("read /data/reports/a.xml: No such file or directory", &granted),
            None
        );
        assert_eq!(ungranted("read /etc/passwd: invalid UTF-8", &granted), None);
        let dotdot = ungranted(
            "read /data/reports/../x: Operation not permitted (os error 63)",
            &granted,
        );
        assert!(dotdot.is_some_and(|n| n.contains("not granted")));
    }

    #[test]
    fn the_sdk_carries_the_wit_the_host_speaks() {
        // The SDK packages its own copy (it must build outside this
        // repository); a change to one without the other is caught here.
        let host = include_str!("../../../wit/gatehouse-plugin.wit");
        let sdk = include_str!("../../../sdk/wit/gatehouse-plugin.wit");
        assert!(
            host == sdk,
            "sdk/wit/gatehouse-plugin.wit differs from wit/gatehouse-plugin.wit: copy it"
        );
    }

    fn finding(rule: &str) -> wit::Finding {
        wit::Finding {
            rule: rule.into(),
            message: "m".into(),
            severity: wit::Severity::Low,
            remediation: None,
        }
    }

    #[test]
    fn many_tiny_findings_count_their_structure_and_their_number() {
        let limits = Limits {
            max_output: 1024 * 1024,
        };
        // A million two-byte findings: refused by count before anything is built.
        let flood = wit::Verdict {
            outcome: wit::Outcome::Fail,
            findings: (0..1_000_000).map(|_| finding("R")).collect(),
        };
        let e = verdict(flood, &limits).unwrap_err();
        assert!(
            matches!(
                e,
                Failure::TooMany {
                    what: "findings",
                    count: 1_000_000,
                    ..
                }
            ),
            "{e}"
        );
        // Under the count but over the bytes once each finding's structure counts.
        let many = wit::Verdict {
            outcome: wit::Outcome::Fail,
            findings: (0..MAX_FINDINGS).map(|_| finding("R")).collect(),
        };
        let e = verdict(many, &Limits { max_output: 64 * 1024 }).unwrap_err();
        assert!(matches!(e, Failure::OutputTooLarge { .. }), "{e}");
        let few = wit::Verdict {
            outcome: wit::Outcome::Fail,
            findings: vec![finding("R"); 10],
        };
        assert_eq!(verdict(few, &limits).unwrap().findings.len(), 10);
    }

    #[test]
    fn a_collector_returning_too_many_statements_is_refused_whole() {
        let limits = Limits {
            max_output: 16 * 1024 * 1024,
        };
        let one = || wit::Statement {
            predicate_type: "https://example.com/p".into(),
            predicate: "{}".into(),
        };
        let e = statements((0..200_000).map(|_| one()).collect(), &limits).unwrap_err();
        assert!(
            matches!(
                e,
                Failure::TooMany {
                    what: "statements",
                    count: 200_000,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(statements(vec![one(), one()], &limits).unwrap().len(), 2);
    }
}
