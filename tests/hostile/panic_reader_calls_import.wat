;; expect: call ReentrantHostCall
;; groups: log
;; message: log.write
;; max_wall_ms: 5000
;; (the panic-message reader writes log lines in a loop: it runs as a callback, with
;; host imports disabled, so its first host call stops the call)
(module
  (import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "__wasmod_panic_message") (result i64)
    (loop $l (call $log (i32.const 2) (i32.const 0) (i32.const 0)) (br $l))
    i64.const 0)
  (func (export "run") (param i32 i32) (result i64)
    (call $log (i32.const 2) (i32.const 0) (i32.const 0))
    unreachable))
