;; expect: call OutputTooLarge
(module
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  ;; claims 1 GiB of output at 0
  (func (export "run") (param i32 i32) (result i64) i64.const 0x4000000000000000))
