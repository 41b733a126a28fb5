;; expect: call StackOverflow
(module
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func $f (param i32) (result i32) (i32.add (call $f (local.get 0)) (i32.const 1)))
  (func (export "run") (param i32 i32) (result i64) (i64.extend_i32_u (call $f (i32.const 0)))))
