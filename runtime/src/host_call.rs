//! The host functions a store links: typed trampolines for the standard signature
//! shapes, a dynamic one for any other, and the one dispatch every host call goes
//! through (callback check, the group's call under `catch_unwind`, result checks, and
//! the record of why a call stopped).

use std::panic::AssertUnwindSafe;

use wasmer::{Function, FunctionEnv, FunctionEnvMut, RuntimeError, Store, Value};
use wasmod_host_abi::ValType;

use crate::call_env::CallEnv;
use crate::vm::panic_text;
use crate::{GuestTrap, HostContext, HostFunctionError, HostValue};

fn to_host(v: &Value) -> HostValue {
    match v {
        Value::I32(x) => HostValue::I32(*x),
        Value::I64(x) => HostValue::I64(*x),
        Value::F32(x) => HostValue::F32(*x),
        Value::F64(x) => HostValue::F64(*x),
        _ => HostValue::I32(0),
    }
}

fn to_wasm(v: HostValue) -> Value {
    match v {
        HostValue::I32(x) => Value::I32(x),
        HostValue::I64(x) => Value::I64(x),
        HostValue::F32(x) => Value::F32(x),
        HostValue::F64(x) => Value::F64(x),
    }
}

fn matches_type(v: HostValue, t: ValType) -> bool {
    matches!(
        (v, t),
        (HostValue::I32(_), ValType::I32)
            | (HostValue::I64(_), ValType::I64)
            | (HostValue::F32(_), ValType::F32)
            | (HostValue::F64(_), ValType::F64)
    )
}

/// Builds the wasmer host function for import `import` of the function a store serves.
/// It finds the group and the caller through the store's environment, so a warm
/// instance's host functions serve every call of it.
///
/// Signatures of up to six `i32` parameters and no result or one `i32` or `i64` (every
/// standard group's) get a typed function: wasmer calls it natively, with no vector of
/// arguments or results and no type to clone per call. Any other signature (an
/// embedder's group may declare one) gets a dynamic function.
pub(crate) fn host_function(
    store: &mut Store,
    env: &FunctionEnv<CallEnv>,
    import: usize,
    ty: &wasmer::FunctionType,
) -> Function {
    macro_rules! typed {
        ($($arg:ident),*) => {
            match ty.results() {
                [] => {
                    return Function::new_typed_with_env(
                        store,
                        env,
                        move |mut env: FunctionEnvMut<'_, CallEnv>, $($arg: i32),*| -> Result<(), RuntimeError> {
                            dispatch(&mut env, import, &[$(HostValue::I32($arg)),*]).map(|_| ())
                        },
                    )
                }
                [wasmer::Type::I32] => {
                    return Function::new_typed_with_env(
                        store,
                        env,
                        move |mut env: FunctionEnvMut<'_, CallEnv>, $($arg: i32),*| -> Result<i32, RuntimeError> {
                            let value = dispatch(&mut env, import, &[$(HostValue::I32($arg)),*])?;
                            Ok(value.and_then(HostValue::i32).unwrap_or_default())
                        },
                    )
                }
                [wasmer::Type::I64] => {
                    return Function::new_typed_with_env(
                        store,
                        env,
                        move |mut env: FunctionEnvMut<'_, CallEnv>, $($arg: i32),*| -> Result<i64, RuntimeError> {
                            let value = dispatch(&mut env, import, &[$(HostValue::I32($arg)),*])?;
                            Ok(value.and_then(HostValue::i64).unwrap_or_default())
                        },
                    )
                }
                _ => {}
            }
        };
    }
    if ty.params().iter().all(|t| *t == wasmer::Type::I32) {
        match ty.params().len() {
            0 => typed!(),
            1 => typed!(a),
            2 => typed!(a, b),
            3 => typed!(a, b, c),
            4 => typed!(a, b, c, d),
            5 => typed!(a, b, c, d, e),
            6 => typed!(a, b, c, d, e, f),
            _ => {}
        }
    }
    Function::new_with_env(store, env, ty.clone(), move |mut env: FunctionEnvMut<'_, CallEnv>, args: &[Value]| {
        let args: Vec<HostValue> = args.iter().map(to_host).collect();
        Ok(dispatch(&mut env, import, &args)?.map(to_wasm).into_iter().collect())
    })
}

/// Runs host function `import` of the store's function with `args` (of its signature's
/// types, which wasmer checked): the group's result, checked against the signature, or
/// the trap that stops the call, with why recorded in the environment.
fn dispatch(
    env: &mut FunctionEnvMut<'_, CallEnv>,
    import: usize,
    args: &[HostValue],
) -> Result<Option<HostValue>, RuntimeError> {
    let f = env.data().function;
    // SAFETY: guest code runs only during a call, which keeps its function alive.
    let f = unsafe { f.get() };
    let Ok(binding) = &f.imports[import] else {
        unreachable!("only granted imports get a host function");
    };
    let (group, index) = (&binding.group, binding.index);
    let def = group.def();
    let function = &def.functions[index];
    // ABI v1: a callback into the guest runs with host imports disabled. This is the
    // one place the rule is enforced; it bounds every nesting through the allocator.
    if env.data().in_callback {
        let name = format!("{}.{}", def.name, function.name);
        let message = format!("host function {name} was called from inside a callback into the guest");
        env.data_mut().reentrant = Some(name);
        return Err(RuntimeError::new(message));
    }
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut cx = HostContext { env: env.as_mut(), group: def, function };
        group.call(index, &mut cx, args)
    }));
    let results = &function.signature.results;
    let fail = |env: &mut FunctionEnvMut<'_, CallEnv>, message: String| {
        env.data_mut().host_trap = Some((format!("{}.{}", def.name, function.name), message.clone()));
        Err(RuntimeError::new(message))
    };
    match result {
        Ok(Ok(value)) => match (value, results.first()) {
            (None, None) => Ok(None),
            (Some(v), Some(t)) if results.len() == 1 && matches_type(v, *t) => Ok(Some(v)),
            (v, _) => fail(env, format!("host function returned {v:?}, which does not match {}", function.signature)),
        },
        Ok(Err(HostFunctionError::Status(code))) => match results.first() {
            Some(ValType::I32) => Ok(Some(HostValue::I32(code))),
            Some(ValType::I64) => Ok(Some(HostValue::I64(i64::from(code)))),
            _ => fail(env, format!("host function failed with status {code}")),
        },
        Ok(Err(HostFunctionError::Trap(message))) => fail(env, message),
        Ok(Err(e @ HostFunctionError::BadPointer { .. })) => {
            let message = format!("in {}.{}: {e}", def.name, function.name);
            env.data_mut().guest_fault = Some(message.clone());
            Err(RuntimeError::new(message))
        }
        Ok(Err(HostFunctionError::Guest(GuestTrap(e)))) => Err(e),
        Ok(Err(HostFunctionError::DeadlineExceeded)) => {
            env.data_mut().deadline_passed = true;
            Err(RuntimeError::new(format!("the deadline passed inside host function {}.{}", def.name, function.name)))
        }
        Err(panic) => fail(env, format!("the host function panicked: {}", panic_text(panic.as_ref()))),
    }
}
