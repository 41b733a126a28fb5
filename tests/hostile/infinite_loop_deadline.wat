;; expect: call DeadlineExceeded
;; limits: fuel=9000000000000000000 timeout_ms=100
(module
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64) (loop $l (br $l)) i64.const 0))
