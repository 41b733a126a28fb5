;; expect: call GuestError
;; groups: modules
;; (calls its own module through `modules`; the host answers DENIED, which the guest
;; returns as its error region: status -2 is an error word)
(module
  (import "wasmod:modules@1" "call" (func $call (param i32 i32 i32 i32 i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hostile/self_call")
  (data (i32.const 32) "run")
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64)
    (local $r i64)
    (local.set $r (call $call (i32.const 0) (i32.const 17) (i32.const 32) (i32.const 3) (i32.const 0) (i32.const 0)))
    ;; DENIED (-2) becomes an error with an empty message at 0
    (if (i64.eq (local.get $r) (i64.const -2)) (then (return (i64.const 0x8000000000000000))))
    unreachable))
