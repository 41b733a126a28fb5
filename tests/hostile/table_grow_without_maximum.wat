;; expect: call GuestError
;; limits: table_elements=5000
;; message: every table.grow was answered as the limit says
;; max_wall_ms: 5000
;; (a table with no declared maximum: one table.grow asked wasmer for 2^31 elements of
;; host heap; the process was OOM-killed at 22 GB. Growth now stops at the call's
;; table limit, exactly: the guest reports success as an error so that the test sees
;; which branch it took, and traps on any other answer.)
(module
  (table $t 1 funcref)
  (memory (export "memory") 1)
  (data (i32.const 0) "every table.grow was answered as the limit says")
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64)
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 0x7fffffff)) (i32.const -1)) (then unreachable))
    ;; up to the limit exactly: 1 + 4999 = 5000 elements (returns the old size, 1)
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 4999)) (i32.const 1)) (then unreachable))
    (if (i32.ne (table.size $t) (i32.const 5000)) (then unreachable))
    ;; and not one past it
    (if (i32.ne (table.grow $t (ref.null func) (i32.const 1)) (i32.const -1)) (then unreachable))
    ;; error region: 47 bytes at 0
    i64.const 0x8000002F00000000))
