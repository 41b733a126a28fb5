;; expect: call ReentrantHostCall
;; groups: kv
;; message: kv.list
;; max_wall_ms: 5000
;; (kv.list hands its answer to the guest through wasmod_alloc; from its second call
;; on, this allocator calls kv.list again. That recursed on the host thread's stack,
;; a few fuel per level, until the process aborted with "has overflowed its stack".)
(module
  (import "wasmod:kv@1" "list" (func $list (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    ;; the first call places the input; every later one comes from inside kv.list
    (if (i32.gt_u (global.get $calls) (i32.const 1))
      (then (drop (call $list (i32.const 0) (i32.const 0)))))
    i32.const 1024)
  (func (export "run") (param i32 i32) (result i64)
    (drop (call $list (i32.const 0) (i32.const 0)))
    i64.const 0))
