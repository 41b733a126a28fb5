//! Test doubles of the standard groups (and of the embedder group `acme.inventory`) for
//! the runtime tests: each records that it was reached and answers with fixed data. The
//! real implementations live in the `wasmod` crate (`wasmod/src/groups.rs`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wasmod_host_abi::abi::{CALL_OK, status};
use wasmod_host_abi::{ConfigValue, GroupDef, groups};
use wasmod_runtime::{HostContext, HostFunctionError, HostGroup, HostValue};

/// Which host functions were called, in order, as `group.function`.
#[derive(Default, Debug)]
pub struct Journal {
    /// Each host function reached, as `group.function`, in call order (empty when `quiet`).
    pub calls: Mutex<Vec<String>>,
    /// Lines written with `log.write`.
    pub logs: Mutex<Vec<String>>,
    /// When set, nothing is recorded (for long runs that measure memory).
    pub quiet: bool,
}

impl Journal {
    /// A journal that records nothing.
    pub fn quiet() -> Arc<Journal> {
        Arc::new(Journal { quiet: true, ..Journal::default() })
    }

    fn record(&self, list: &Mutex<Vec<String>>, entry: String) {
        if !self.quiet {
            list.lock().unwrap().push(entry);
        }
    }
}

struct Double {
    def: GroupDef,
    journal: Arc<Journal>,
    kv: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

fn arg(args: &[HostValue], i: usize) -> i32 {
    args[i].i32().expect("an i32 argument")
}

impl HostGroup for Double {
    fn def(&self) -> &GroupDef {
        &self.def
    }

    fn call(
        &self,
        function: usize,
        cx: &mut HostContext<'_>,
        a: &[HostValue],
    ) -> Result<Option<HostValue>, HostFunctionError> {
        let name = self.def.functions[function].name.to_string();
        self.journal.record(&self.journal.calls, format!("{}.{name}", self.def.name));
        let encoded = |v: ConfigValue| wasmod_host_abi::wire::encode(&v).unwrap();
        Ok(match (self.def.name.as_ref(), name.as_str()) {
            ("log", "write") => {
                let line = String::from_utf8_lossy(&cx.read(arg(a, 1), arg(a, 2))?).into_owned();
                self.journal.record(&self.journal.logs, line);
                None
            }
            ("config", "get") => match cx.read_str(arg(a, 0), arg(a, 1))?.as_str() {
                "name" => Some(HostValue::I64(cx.return_bytes(&encoded(ConfigValue::String("configured".into())))?)),
                _ => Some(HostValue::I64(i64::from(status::NOT_FOUND))),
            },
            ("config", "get_from") => match cx.read_str(arg(a, 0), arg(a, 1))?.as_str() {
                "fixtures/dep" => Some(HostValue::I64(cx.return_bytes(&encoded(ConfigValue::Int(3)))?)),
                _ => Some(HostValue::I64(i64::from(status::DENIED))),
            },
            ("config", "set") => Some(HostValue::I32(status::OK)),
            ("clock", "now_unix_nanos") => Some(HostValue::I64(1_700_000_000_000_000_000)),
            ("clock", "monotonic_nanos") => Some(HostValue::I64(42)),
            ("random", "fill") => {
                let len = arg(a, 1);
                cx.write(arg(a, 0), &vec![0xab; len.max(0) as usize])?;
                Some(HostValue::I32(status::OK))
            }
            ("kv", "get") => {
                let key = cx.read(arg(a, 0), arg(a, 1))?;
                let value = self.kv.lock().unwrap().get(&key).cloned();
                Some(HostValue::I64(match value {
                    Some(v) => cx.return_bytes(&v)?,
                    None => i64::from(status::NOT_FOUND),
                }))
            }
            ("kv", "set") => {
                let key = cx.read(arg(a, 0), arg(a, 1))?;
                let value = cx.read(arg(a, 2), arg(a, 3))?;
                self.kv.lock().unwrap().insert(key, value);
                Some(HostValue::I32(status::OK))
            }
            ("kv", "delete") => {
                let key = cx.read(arg(a, 0), arg(a, 1))?;
                Some(HostValue::I32(i32::from(self.kv.lock().unwrap().remove(&key).is_some())))
            }
            ("kv", "list") => {
                let prefix = cx.read(arg(a, 0), arg(a, 1))?;
                let keys: Vec<Vec<u8>> =
                    self.kv.lock().unwrap().keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                Some(HostValue::I64(cx.return_bytes(&wasmod_host_abi::wire::encode(&keys).unwrap())?))
            }
            ("modules", "call") => {
                let mut envelope = vec![CALL_OK];
                envelope.extend_from_slice(b"callee-output");
                Some(HostValue::I64(cx.return_bytes(&envelope)?))
            }
            ("acme.inventory", "stock") => Some(HostValue::I64(cx.return_bytes(b"7")?)),
            (g, f) => return Err(HostFunctionError::Trap(format!("the test double has no {g}.{f}"))),
        })
    }
}

/// Doubles of every standard group and of `acme.inventory@1`, sharing one journal.
pub fn doubles(journal: &Arc<Journal>) -> Vec<Arc<dyn HostGroup>> {
    let mut defs: Vec<GroupDef> = groups::STANDARD_GROUPS.iter().map(|g| (*g).clone()).collect();
    defs.push(crate::test_policy().group("acme.inventory").expect("the test policy offers it").clone());
    defs.into_iter()
        .map(|def| {
            Arc::new(Double { def, journal: journal.clone(), kv: Mutex::new(BTreeMap::new()) }) as Arc<dyn HostGroup>
        })
        .collect()
}
