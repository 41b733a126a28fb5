//! The standard host-function groups: `log`, `config`, `clock`, `random`, `kv`,
//! `modules`. Signatures come from `wasmod_host_abi::groups`; this is what they do.
//!
//! Every group reads the activation it serves from the call's data, so a module only
//! ever sees its own config, its own `kv` namespace and the modules it declared as
//! dependencies.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmod_host_abi::abi::{CALL_ERR, CALL_OK, status};
use wasmod_host_abi::{ConfigValue, GroupDef, groups};
use wasmod_runtime::{ErrorKind, HostContext, HostFunctionError, HostGroup, HostValue, LogCharge};

use crate::activation::ActivationState;
use crate::kv::{KvError, MAX_KEY_BYTES, MAX_LIST_BYTES, MAX_VALUE_BYTES};

/// The standard groups, ready to register with a runtime.
pub(crate) fn standard() -> Vec<Arc<dyn HostGroup>> {
    vec![
        Arc::new(LogGroup(groups::LOG)),
        Arc::new(ConfigGroup(groups::CONFIG)),
        Arc::new(ClockGroup(groups::CLOCK)),
        Arc::new(RandomGroup(groups::RANDOM)),
        Arc::new(KvGroup(groups::KV)),
        Arc::new(ModulesGroup(groups::MODULES)),
    ]
}

/// The longest log line kept; longer ones are cut.
const MAX_LOG_BYTES: usize = 16 << 10;
/// The most random bytes one `random.fill` returns.
const MAX_RANDOM_BYTES: i32 = 1 << 20;

fn arg(args: &[HostValue], i: usize) -> Result<i32, HostFunctionError> {
    args.get(i).and_then(|v| v.i32()).ok_or_else(|| HostFunctionError::Trap(format!("argument {i} is not an i32")))
}

fn state(cx: &HostContext<'_>) -> Result<Arc<ActivationState>, HostFunctionError> {
    cx.data_arc::<ActivationState>()
        .ok_or_else(|| HostFunctionError::Trap("wasmod's standard groups only work inside an activation".into()))
}

fn status64(code: i32) -> Result<Option<HostValue>, HostFunctionError> {
    Ok(Some(HostValue::I64(i64::from(code))))
}

/// What a line in the host's log costs against a call's log budget besides its text:
/// its time, level, target and fields. Charged for every line a guest causes, empty ones
/// included.
const LOG_LINE_OVERHEAD: usize = 128;

/// Whether a line of the host's own that a guest caused (a refusal, say) may be written:
/// it is charged to the call's log budget like the guest's own lines, so a guest cannot
/// flood the log through refusals either.
fn may_note(cx: &mut HostContext<'_>) -> bool {
    cx.charge_log(LOG_LINE_OVERHEAD) == LogCharge::Allowed
}

/// What a `kv` failure means to the guest: a status, or the end of the call.
fn kv_failure(cx: &mut HostContext<'_>, what: &str, e: KvError) -> HostFunctionError {
    match e {
        KvError::Quota { .. } | KvError::InitBudget { .. } => {
            if may_note(cx) {
                tracing::warn!(error = %e, "kv {what} refused");
            }
            HostFunctionError::Status(status::LIMIT)
        }
        KvError::Busy { .. } => HostFunctionError::DeadlineExceeded,
        e => {
            tracing::error!(error = %e, "kv {what} failed");
            HostFunctionError::Status(status::FAILED)
        }
    }
}

struct LogGroup(GroupDef);

impl HostGroup for LogGroup {
    fn def(&self) -> &GroupDef {
        &self.0
    }

    fn call(
        &self,
        _: usize,
        cx: &mut HostContext<'_>,
        args: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let level = arg(args, 0)?;
        let len = arg(args, 2)?.clamp(0, MAX_LOG_BYTES as i32);
        // A call writes at most `CallLimits::max_log_bytes` to the host's log.
        match cx.charge_log(len as usize + LOG_LINE_OVERHEAD) {
            LogCharge::Allowed => {}
            LogCharge::FirstRefusal => {
                let caller = cx.caller();
                tracing::warn!(
                    target: "wasmod::guest",
                    module = caller.module.as_str(),
                    function = caller.function.as_str(),
                    limit = cx.limits().max_log_bytes,
                    "the call's log budget is spent: its further log lines are dropped"
                );
                return Ok(None);
            }
            LogCharge::Refused => return Ok(None),
        }
        let bytes = cx.read(arg(args, 1)?, len)?;
        let message = String::from_utf8_lossy(&bytes);
        let caller = cx.caller();
        let (module, function) = (caller.module.as_str(), caller.function.as_str());
        match level {
            i32::MIN..=0 => tracing::trace!(target: "wasmod::guest", module, function, "{message}"),
            1 => tracing::debug!(target: "wasmod::guest", module, function, "{message}"),
            2 => tracing::info!(target: "wasmod::guest", module, function, "{message}"),
            3 => tracing::warn!(target: "wasmod::guest", module, function, "{message}"),
            _ => tracing::error!(target: "wasmod::guest", module, function, "{message}"),
        }
        Ok(None)
    }
}

struct ConfigGroup(GroupDef);

impl ConfigGroup {
    fn reply(cx: &mut HostContext<'_>, value: Option<ConfigValue>) -> Result<Option<HostValue>, HostFunctionError> {
        match value {
            Some(v) => {
                let bytes = wasmod_host_abi::wire::encode(&v).map_err(|e| HostFunctionError::Trap(e.to_string()))?;
                Ok(Some(HostValue::I64(cx.return_bytes(&bytes)?)))
            }
            None => status64(status::NOT_FOUND),
        }
    }
}

impl HostGroup for ConfigGroup {
    fn def(&self) -> &GroupDef {
        &self.0
    }

    fn call(
        &self,
        function: usize,
        cx: &mut HostContext<'_>,
        args: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let state = state(cx)?;
        let caller = cx.caller().clone();
        match self.0.functions[function].name.as_ref() {
            "get" => {
                let key = cx.read_str(arg(args, 0)?, arg(args, 1)?)?;
                let value = state
                    .config
                    .read()
                    .map_err(|_| HostFunctionError::Trap("config lock poisoned".into()))?
                    .get(caller.module.as_str(), &key)
                    .map(|(v, _)| v.clone());
                Self::reply(cx, value)
            }
            "get_from" => {
                let module = cx.read_str(arg(args, 0)?, arg(args, 1)?)?;
                let key = cx.read_str(arg(args, 2)?, arg(args, 3)?)?;
                if !state.depends_on(&caller.module, &module) {
                    return status64(status::DENIED);
                }
                let value = state
                    .config
                    .read()
                    .map_err(|_| HostFunctionError::Trap("config lock poisoned".into()))?
                    .get(&module, &key)
                    .map(|(v, _)| v.clone());
                Self::reply(cx, value)
            }
            "set" => {
                let key = cx.read_str(arg(args, 0)?, arg(args, 1)?)?;
                let bytes = cx.read(arg(args, 2)?, arg(args, 3)?)?;
                let Ok(value) = wasmod_host_abi::wire::decode::<ConfigValue>(&bytes) else {
                    return Ok(Some(HostValue::I32(status::INVALID)));
                };
                if !state.in_init_of(&caller.module, &caller.function) {
                    return Ok(Some(HostValue::I32(status::DENIED)));
                }
                let outcome = state
                    .config
                    .write()
                    .map_err(|_| HostFunctionError::Trap("config lock poisoned".into()))?
                    .set_from_init(&caller.module, &key, value);
                Ok(Some(HostValue::I32(match outcome {
                    Ok(()) => status::OK,
                    Err(reason) => {
                        if may_note(cx) {
                            tracing::warn!(module = %caller.module, reason, "config.set refused");
                        }
                        status::INVALID
                    }
                })))
            }
            other => Err(HostFunctionError::Trap(format!("config has no function {other}"))),
        }
    }
}

struct ClockGroup(GroupDef);

fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

impl HostGroup for ClockGroup {
    fn def(&self) -> &GroupDef {
        &self.0
    }

    fn call(
        &self,
        function: usize,
        _: &mut HostContext<'_>,
        _: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let nanos = match self.0.functions[function].name.as_ref() {
            "now_unix_nanos" => SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
            _ => process_start().elapsed().as_nanos(),
        };
        Ok(Some(HostValue::I64(i64::try_from(nanos).unwrap_or(i64::MAX))))
    }
}

struct RandomGroup(GroupDef);

impl HostGroup for RandomGroup {
    fn def(&self) -> &GroupDef {
        &self.0
    }

    fn call(
        &self,
        _: usize,
        cx: &mut HostContext<'_>,
        args: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let (ptr, len) = (arg(args, 0)?, arg(args, 1)?);
        if !(0..=MAX_RANDOM_BYTES).contains(&len) {
            return Ok(Some(HostValue::I32(status::LIMIT)));
        }
        let mut buf = vec![0u8; len as usize];
        getrandom::fill(&mut buf).map_err(|e| HostFunctionError::Trap(format!("the OS random source failed: {e}")))?;
        cx.write(ptr, &buf)?;
        Ok(Some(HostValue::I32(status::OK)))
    }
}

struct KvGroup(GroupDef);

impl HostGroup for KvGroup {
    fn def(&self) -> &GroupDef {
        &self.0
    }

    fn call(
        &self,
        function: usize,
        cx: &mut HostContext<'_>,
        args: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let state = state(cx)?;
        let module = cx.caller().module.to_string();
        let name = self.0.functions[function].name.as_ref();
        let (key_ptr, key_len) = (arg(args, 0)?, arg(args, 1)?);
        if key_len as u32 as usize > MAX_KEY_BYTES && name != "list" {
            return match name {
                "get" => status64(status::LIMIT),
                _ => Ok(Some(HostValue::I32(status::LIMIT))),
            };
        }
        let key = cx.read(key_ptr, key_len)?;
        let deadline = Instant::now() + cx.remaining_time();
        match name {
            "get" => match state.kv_get(&module, &key).map_err(|e| kv_failure(cx, "get", e))? {
                Some(v) => Ok(Some(HostValue::I64(cx.return_bytes(&v)?))),
                None => status64(status::NOT_FOUND),
            },
            "set" => {
                let (value_ptr, value_len) = (arg(args, 2)?, arg(args, 3)?);
                if value_len as u32 as usize > MAX_VALUE_BYTES {
                    return Ok(Some(HostValue::I32(status::LIMIT)));
                }
                let value = cx.read(value_ptr, value_len)?;
                state.kv_set(&module, &key, Some(value), deadline).map_err(|e| kv_failure(cx, "set", e))?;
                Ok(Some(HostValue::I32(status::OK)))
            }
            "delete" => {
                let existed = state.kv_set(&module, &key, None, deadline).map_err(|e| kv_failure(cx, "delete", e))?;
                Ok(Some(HostValue::I32(i32::from(existed))))
            }
            "list" => match state.kv_list(&module, &key, MAX_LIST_BYTES).map_err(|e| kv_failure(cx, "list", e))? {
                Some(keys) => {
                    let bytes =
                        wasmod_host_abi::wire::encode(&keys).map_err(|e| HostFunctionError::Trap(e.to_string()))?;
                    Ok(Some(HostValue::I64(cx.return_bytes(&bytes)?)))
                }
                None => status64(status::LIMIT),
            },
            other => Err(HostFunctionError::Trap(format!("kv has no function {other}"))),
        }
    }
}

struct ModulesGroup(GroupDef);

impl HostGroup for ModulesGroup {
    fn def(&self) -> &GroupDef {
        &self.0
    }

    fn call(
        &self,
        _: usize,
        cx: &mut HostContext<'_>,
        args: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let state = state(cx)?;
        let caller = cx.caller().module.clone();
        let module = cx.read_str(arg(args, 0)?, arg(args, 1)?)?;
        let function = cx.read_str(arg(args, 2)?, arg(args, 3)?)?;
        let input = cx.read(arg(args, 4)?, arg(args, 5)?)?;
        if !state.depends_on(&caller, &module) {
            if may_note(cx) {
                tracing::warn!(caller = %caller, callee = %module, "modules.call refused: not a declared dependency");
            }
            return status64(status::DENIED);
        }
        let Some(callee) = state.function(&module, &function) else {
            return status64(status::NOT_FOUND);
        };
        // The callee's calls count in its statistics, and a quarantined callee is refused
        // like any failure the caller can handle.
        let record = match state.stats.admit(callee.info()) {
            Ok(record) => record,
            Err(refused) => {
                let mut envelope = vec![CALL_ERR];
                envelope.extend_from_slice(refused.to_string().as_bytes());
                return Ok(Some(HostValue::I64(cx.return_bytes(&envelope)?)));
            }
        };
        let data: Arc<dyn std::any::Any + Send + Sync> = state.clone();
        let result = cx.call_module(&callee, &input, Some(data));
        state.stats.finish_nested(&record, &result);
        match result {
            Ok(outcome) => {
                let mut envelope = Vec::with_capacity(outcome.output.len() + 1);
                envelope.push(CALL_OK);
                envelope.extend_from_slice(&outcome.output);
                Ok(Some(HostValue::I64(cx.return_bytes(&envelope)?)))
            }
            Err(e) if matches!(e.kind, ErrorKind::DepthLimit { .. }) => status64(status::LIMIT),
            // Out of time is out of time for the whole chain.
            Err(e) if matches!(e.kind, ErrorKind::DeadlineExceeded { .. }) => Err(HostFunctionError::DeadlineExceeded),
            Err(e) => {
                let mut envelope = vec![CALL_ERR];
                envelope.extend_from_slice(e.to_string().as_bytes());
                Ok(Some(HostValue::I64(cx.return_bytes(&envelope)?)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::{AppConfig, Error, ErrorKind, Host, HostPolicy, Request};

    /// A host with one module `t/<name>` whose `run` has `body` and imports `import`
    /// from a group it is granted, and its activation.
    fn one_module(dir: &std::path::Path, name: &str, group: &str, import: &str, body: &str) -> crate::Activation {
        let policy = HostPolicy::new().with_subsystem("t.run", &[group], "");
        let host = Host::builder().store(dir).artifact_key([5; 32]).policy(policy).open().unwrap();
        let wasm = wat::parse_str(format!(
            r#"(module
              {import}
              (memory (export "memory") 1)
              (func (export "__wasmod_abi_v1"))
              (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
              (func (export "run") (param i32 i32) (result i64) (local $i i32) {body}))"#
        ))
        .unwrap();
        let manifest = format!(
            r#"(name: "t/{name}", version: "1.0.0", functions: {{ "run": (implements: "t.run", groups: ["{group}"]) }})"#
        );
        let files = [("run.wasm".to_string(), wasm)].into_iter().collect();
        host.install(&wasmod_manifest::write_package(&manifest, &files).unwrap()).unwrap();
        host.activate(&[Request::parse(&format!("t/{name}"), None).unwrap()], &AppConfig::new()).unwrap()
    }

    /// Captures what `tracing` writes on this thread.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A guest that logs 16 KiB lines without end writes at most its call's log budget
    /// to the host's log, and one line that says the rest was dropped.
    #[test]
    fn a_log_flood_stops_at_the_calls_log_budget() {
        let dir = tempfile::tempdir().unwrap();
        let active = one_module(
            dir.path(),
            "flood",
            "log",
            r#"(import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))"#,
            "(local.set $i (i32.const 1000)) \
             (loop $l (call $log (i32.const 2) (i32.const 0) (i32.const 16384)) \
               (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br_if $l (local.get $i))) i64.const 0",
        );
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let limits = crate::CallLimits { max_log_bytes: 100_000, ..Default::default() };
        let outcome =
            tracing::subscriber::with_default(subscriber, || active.call_with("t/flood", "run", b"", limits).unwrap());
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        // 16 KiB lines of zero bytes, each charged with its overhead: six fit in 100,000
        // bytes, the seventh does not.
        let line = 16384 + super::LOG_LINE_OVERHEAD as u64;
        assert_eq!(text.matches("\0").count(), 6 * 16384, "guest bytes in the log");
        assert_eq!(text.matches("log budget is spent").count(), 1, "{}", &text[text.len().saturating_sub(400)..]);
        assert_eq!(outcome.metrics.log_bytes, 7 * line);
    }

    /// A guest's `kv.set` waits for the database's write lock no longer than the call's
    /// deadline: the call stops with `DeadlineExceeded` while another writer holds it.
    #[test]
    fn a_kv_write_waits_for_the_write_lock_no_longer_than_its_call() {
        let dir = tempfile::tempdir().unwrap();
        let policy = HostPolicy::new().with_subsystem("t.run", &["kv"], "");
        let host = Host::builder().store(dir.path()).policy(policy).open().unwrap();
        let wasm = wat::parse_str(
            r#"(module
              (import "wasmod:kv@1" "set" (func $set (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "__wasmod_abi_v1"))
              (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
              (func (export "run") (param i32 i32) (result i64)
                (i64.extend_i32_s (call $set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))))"#,
        )
        .unwrap();
        let manifest =
            r#"(name: "t/kv", version: "1.0.0", functions: { "run": (implements: "t.run", groups: ["kv"]) })"#;
        let files = [("run.wasm".to_string(), wasm)].into_iter().collect();
        let archive = wasmod_manifest::write_package(manifest, &files).unwrap();
        host.install(&archive).unwrap();
        let active = host.activate(&[Request::parse("t/kv", None).unwrap()], &AppConfig::new()).unwrap();
        active.call("t/kv", "run", b"").unwrap();

        let kv = host.kv().unwrap();
        let held = kv.hold_write_lock();
        let limits = crate::CallLimits { timeout: Duration::from_millis(100), ..Default::default() };
        let started = std::time::Instant::now();
        match active.call_with("t/kv", "run", b"", limits) {
            Err(Error::Call(e)) => assert!(matches!(e.kind, ErrorKind::DeadlineExceeded { .. }), "{e}"),
            other => panic!("expected the deadline, got {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
        drop(held);
        active.call("t/kv", "run", b"").unwrap();
    }
}
