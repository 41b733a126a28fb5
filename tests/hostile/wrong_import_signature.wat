;; expect: install import-bad-signature
;; groups: clock
(module
  (import "wasmod:clock@1" "now_unix_nanos" (func (param i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64) i64.const 0))
