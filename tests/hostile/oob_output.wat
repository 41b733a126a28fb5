;; expect: call BadPointer
(module
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  ;; ptr 0x20000 (past the single page), len 8
  (func (export "run") (param i32 i32) (result i64) i64.const 0x0000000800020000))
