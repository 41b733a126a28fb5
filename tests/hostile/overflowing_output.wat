;; expect: call BadPointer
(module
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  ;; ptr 0xFFFFFFF0, len 0x20: ptr + len overflows 32 bits
  (func (export "run") (param i32 i32) (result i64) i64.const 0x00000020FFFFFFF0))
