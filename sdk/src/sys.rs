//! Raw imports of the standard groups. On `wasm32` these are real wasm imports from
//! `wasmod:<group>@1`; elsewhere they are stand-ins that panic, so that code using the
//! sdk still builds (and its pure parts test) natively.
//!
//! The import module names and signatures must match `wasmod_host_abi::groups`; a test
//! in `tests/` compiles a guest that uses every binding and checks its imports against
//! those tables.

#![allow(missing_docs, clippy::missing_safety_doc)]

macro_rules! imports {
    ($( $module:literal => $modname:ident { $( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? ; )* } )*) => {
        $(
            pub(crate) mod $modname {
                #[cfg(target_arch = "wasm32")]
                #[link(wasm_import_module = $module)]
                unsafe extern "C" {
                    $( pub(crate) fn $name($($arg: $ty),*) $(-> $ret)?; )*
                }

                $(
                    #[cfg(not(target_arch = "wasm32"))]
                    #[allow(unused_variables)]
                    pub(crate) unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                        panic!(concat!(
                            "`", $module, ".", stringify!($name),
                            "` is a wasmod host function; it only exists inside a wasm guest"
                        ))
                    }
                )*
            }
        )*
    };
}

imports! {
    "wasmod:log@1" => log {
        fn write(level: i32, ptr: i32, len: i32);
    }
    "wasmod:config@1" => config {
        fn get(key_ptr: i32, key_len: i32) -> i64;
        fn get_from(module_ptr: i32, module_len: i32, key_ptr: i32, key_len: i32) -> i64;
        fn set(key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32) -> i32;
    }
    "wasmod:clock@1" => clock {
        fn now_unix_nanos() -> i64;
        fn monotonic_nanos() -> i64;
    }
    "wasmod:random@1" => random {
        fn fill(ptr: i32, len: i32) -> i32;
    }
    "wasmod:kv@1" => kv {
        fn get(key_ptr: i32, key_len: i32) -> i64;
        fn set(key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32) -> i32;
        fn delete(key_ptr: i32, key_len: i32) -> i32;
        fn list(prefix_ptr: i32, prefix_len: i32) -> i64;
    }
    "wasmod:modules@1" => modules {
        fn call(module_ptr: i32, module_len: i32, function_ptr: i32, function_len: i32, input_ptr: i32, input_len: i32) -> i64;
    }
}
