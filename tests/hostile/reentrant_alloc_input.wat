;; expect: call ReentrantHostCall
;; groups: log
;; message: log.write
;; (the allocator the host calls to place the input writes a log line: host imports
;; are disabled in every callback, including this one)
(module
  (import "wasmod:log@1" "write" (func $log (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32)
    (call $log (i32.const 2) (i32.const 0) (i32.const 0))
    i32.const 1024)
  (func (export "run") (param i32 i32) (result i64)
    (call $log (i32.const 2) (i32.const 0) (i32.const 0))
    i64.const 0))
