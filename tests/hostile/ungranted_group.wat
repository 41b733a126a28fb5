;; expect: install import-group-not-allowed
;; groups: kv
;; subsystem: test.pure
(module
  (import "wasmod:kv@1" "get" (func $get (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64) (call $get (i32.const 0) (i32.const 0))))
