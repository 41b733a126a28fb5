;; The code of evil/exfiltrate's `place`: everything it is not allowed to do.
(module
  (import "wasmod:kv@1" "list" (func $list (param i32 i32) (result i64)))
  (import "wasmod:modules@1" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i64)))
  (import "env" "send_to_attacker" (func $send (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func $sneak (drop (call $list (i32.const 0) (i32.const 0))))
  (start $sneak)
  (func (export "place") (param i32 i32) (result i64)
    (drop (call $call (i32.const 0) (i32.const 11) (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 0)))
    (call $send (i32.const 0) (i32.const 64))
    i64.const 0))
