//! [`GroupBuilder`]: an embedder's host-function group from closures. Each function's
//! wasm signature comes from its closure's types, so the definition the validator checks
//! and the function the runtime links have one source, as with wasmtime's
//! `Linker::func_wrap`:
//!
//! - [`GroupBuilder::bytes`]: bytes in, bytes out, the shape the sdk's `import_group!`
//!   binds (`f(input: &[u8]) -> Result<Vec<u8>>` in the guest);
//! - [`GroupBuilder::typed`]: the same with serde types, postcard-encoded as the sdk's
//!   `f_typed` binding sends them;
//! - [`GroupBuilder::func`]: plain wasm values (`i32`, `i64`, `f32`, `f64`) in, at most
//!   one out, for guests that import a function of their own signature.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmod_host_abi::abi::{BYTES_CALL_SIGNATURE, status};
use wasmod_host_abi::{GroupDef, HostFunctionDef, Signature, ValType};

use crate::{HostContext, HostFunctionError, HostGroup, HostValue};

/// A function of a built group, over the raw values the runtime passes.
type Body = Box<dyn Fn(&mut HostContext<'_>, &[HostValue]) -> HostResult + Send + Sync>;

/// What a host function returns to the runtime.
type HostResult = Result<Option<HostValue>, HostFunctionError>;

/// Builds a [`HostGroup`] from one closure per function (see the module docs).
///
/// ```
/// use wasmod_runtime::{GroupBuilder, HostContext, HostFunctionError};
///
/// let inventory = GroupBuilder::new("acme.inventory", 1, "Stock levels.")
///     .bytes("stock", "The stock level of a SKU, as decimal text.", |_cx, sku| {
///         Ok(if sku == b"tea" { b"12".to_vec() } else { b"0".to_vec() })
///     })
///     // A closure over wasm values names the context's type, so that it takes any
///     // context (the reference's lifetime is then its own).
///     .func("double", "Twice its argument.", |_cx: &mut HostContext<'_>, n: i32| {
///         Ok::<_, HostFunctionError>(n * 2)
///     })
///     .build();
/// let def = inventory.def();
/// assert_eq!(def.functions[0].signature.to_string(), "[i32, i32] -> [i64]");
/// assert_eq!(def.functions[1].signature.to_string(), "[i32] -> [i32]");
/// ```
pub struct GroupBuilder {
    def: GroupDef,
    bodies: Vec<Body>,
}

impl std::fmt::Debug for GroupBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupBuilder").field("def", &self.def).finish()
    }
}

impl GroupBuilder {
    /// A group `name` (a dotted name such as `acme.inventory`) of major `version`,
    /// imported by guests from `wasmod:<name>@<version>`.
    pub fn new(name: &str, version: u32, doc: &str) -> Self {
        GroupBuilder {
            def: GroupDef {
                name: Cow::Owned(name.to_owned()),
                version,
                doc: Cow::Owned(doc.to_owned()),
                functions: Cow::Owned(Vec::new()),
            },
            bodies: Vec::new(),
        }
    }

    /// A function that takes the guest's bytes and gives bytes back (signature
    /// `[i32, i32] -> [i64]`). An `Err(HostFunctionError::Status(code))` reaches the
    /// guest as that status; other errors end the call.
    pub fn bytes<F>(self, name: &str, doc: &str, f: F) -> Self
    where
        F: Fn(&mut HostContext<'_>, &[u8]) -> Result<Vec<u8>, HostFunctionError> + Send + Sync + 'static,
    {
        self.with(name, doc, BYTES_CALL_SIGNATURE, move |cx, args| {
            let input = cx.read(arg_i32(args, 0)?, arg_i32(args, 1)?)?;
            let output = match f(cx, &input) {
                Ok(output) => output,
                // A status is negative (ABI v1); another would read as a region.
                Err(HostFunctionError::Status(code)) if code >= 0 => {
                    return Err(HostFunctionError::Trap(format!("returned status {code}, but a status is negative")));
                }
                Err(e) => return Err(e),
            };
            Ok(Some(HostValue::I64(cx.return_bytes(&output)?)))
        })
    }

    /// A function over serde types: the guest's bytes decoded from postcard as `I`, the
    /// result encoded as postcard (the sdk's `<function>_typed` binding). Input that does
    /// not decode reaches the guest as the status `INVALID`.
    pub fn typed<I, O, F>(self, name: &str, doc: &str, f: F) -> Self
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(&mut HostContext<'_>, I) -> Result<O, HostFunctionError> + Send + Sync + 'static,
    {
        self.bytes(name, doc, move |cx, input| {
            let input = wasmod_host_abi::wire::decode(input).map_err(|_| HostFunctionError::Status(status::INVALID))?;
            let output = f(cx, input)?;
            wasmod_host_abi::wire::encode(&output).map_err(|e| HostFunctionError::Trap(e.to_string()))
        })
    }

    /// A function over plain wasm values: its parameters (after the context) and its
    /// result, each `i32`, `i64`, `f32` or `f64` (a result may also be `()`), give its
    /// signature. It returns `Result<R, HostFunctionError>`. Write the context's type
    /// in the closure (`|cx: &mut HostContext<'_>, n: i32| …`): Rust then makes the
    /// closure take a context of any lifetime, which the runtime needs.
    pub fn func<Args, F: IntoHostFunction<Args>>(self, name: &str, doc: &str, f: F) -> Self {
        let signature = F::signature();
        self.with(name, doc, signature, f.into_body())
    }

    /// The group, ready for `RuntimeBuilder::group` or the facade's `custom_group`.
    pub fn build(self) -> Arc<dyn HostGroup> {
        Arc::new(BuiltGroup { def: self.def, bodies: self.bodies })
    }

    fn with(
        mut self,
        name: &str,
        doc: &str,
        signature: Signature,
        body: impl Fn(&mut HostContext<'_>, &[HostValue]) -> HostResult + Send + Sync + 'static,
    ) -> Self {
        self.def.functions.to_mut().push(HostFunctionDef {
            name: Cow::Owned(name.to_owned()),
            signature,
            doc: Cow::Owned(doc.to_owned()),
        });
        self.bodies.push(Box::new(body));
        self
    }
}

/// A group made by [`GroupBuilder`].
struct BuiltGroup {
    def: GroupDef,
    bodies: Vec<Body>,
}

impl HostGroup for BuiltGroup {
    fn def(&self) -> &GroupDef {
        &self.def
    }

    fn call(&self, function: usize, cx: &mut HostContext<'_>, args: &[HostValue]) -> HostResult {
        match self.bodies.get(function) {
            Some(body) => body(cx, args),
            None => Err(HostFunctionError::Trap(format!("{} has no function number {function}", self.def.name))),
        }
    }
}

fn arg_i32(args: &[HostValue], i: usize) -> Result<i32, HostFunctionError> {
    args.get(i).and_then(|v| v.i32()).ok_or_else(|| HostFunctionError::Trap(format!("argument {i} is not an i32")))
}

/// A wasm value a host function takes or returns.
pub trait WasmValue: Sized + Send + 'static {
    /// Its wasm type.
    const TYPE: ValType;
    /// The value out of what the runtime passed (already checked against the
    /// signature).
    fn from_host(value: HostValue) -> Option<Self>;
    /// The value as the runtime passes it.
    fn into_host(self) -> HostValue;
}

macro_rules! wasm_value {
    ($($t:ty => $v:ident),*) => {$(
        impl WasmValue for $t {
            const TYPE: ValType = ValType::$v;
            fn from_host(value: HostValue) -> Option<Self> {
                if let HostValue::$v(x) = value { Some(x) } else { None }
            }
            fn into_host(self) -> HostValue {
                HostValue::$v(self)
            }
        }
    )*};
}
wasm_value!(i32 => I32, i64 => I64, f32 => F32, f64 => F64);

/// What a host function over wasm values returns: nothing or one value.
pub trait WasmResult: Send + 'static {
    /// Its wasm result types (none or one).
    fn types() -> Vec<ValType>;
    /// The value as the runtime passes it.
    fn into_host(self) -> Option<HostValue>;
}

impl WasmResult for () {
    fn types() -> Vec<ValType> {
        Vec::new()
    }
    fn into_host(self) -> Option<HostValue> {
        None
    }
}

impl<T: WasmValue> WasmResult for T {
    fn types() -> Vec<ValType> {
        vec![T::TYPE]
    }
    fn into_host(self) -> Option<HostValue> {
        Some(WasmValue::into_host(self))
    }
}

/// A closure that can be a host function over wasm values: `Fn(&mut HostContext, A1, …,
/// An) -> Result<R, HostFunctionError>` with up to six parameters. Implemented for you;
/// `Args` only tells the arities apart.
pub trait IntoHostFunction<Args>: Send + Sync + 'static {
    /// The wasm signature the closure's types give.
    fn signature() -> Signature;
    /// The closure over the raw values the runtime passes.
    fn into_body(self) -> impl Fn(&mut HostContext<'_>, &[HostValue]) -> HostResult + Send + Sync + 'static;
}

macro_rules! into_host_function {
    ($($a:ident),*) => {
        impl<F, R, $($a),*> IntoHostFunction<($($a,)*)> for F
        where
            F: Fn(&mut HostContext<'_>, $($a),*) -> Result<R, HostFunctionError> + Send + Sync + 'static,
            R: WasmResult,
            $($a: WasmValue,)*
        {
            fn signature() -> Signature {
                Signature { params: Cow::Owned(vec![$($a::TYPE),*]), results: Cow::Owned(R::types()) }
            }

            #[allow(non_snake_case, unused_mut, unused_variables, reason = "one macro for every arity")]
            fn into_body(self) -> impl Fn(&mut HostContext<'_>, &[HostValue]) -> HostResult + Send + Sync + 'static {
                move |cx, args| {
                    let mut values = args.iter().copied();
                    $(
                        let $a = values.next().and_then($a::from_host).ok_or_else(|| {
                            HostFunctionError::Trap("an argument does not match the signature".into())
                        })?;
                    )*
                    Ok(self(cx, $($a),*)?.into_host())
                }
            }
        }
    };
}
into_host_function!();
into_host_function!(A1);
into_host_function!(A1, A2);
into_host_function!(A1, A2, A3);
into_host_function!(A1, A2, A3, A4);
into_host_function!(A1, A2, A3, A4, A5);
into_host_function!(A1, A2, A3, A4, A5, A6);
