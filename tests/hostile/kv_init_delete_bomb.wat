;; expect: activate GuestError
;; groups: kv
;; message: kv.delete answered LIMIT
;; max_wall_ms: 20000
;; (an init hook deletes keys that do not exist, a new 1 KiB key each time: every delete
;; is held in host memory until the hooks succeed, like a write. Deletes and each
;; entry's bookkeeping count against the policy's `kv.max_init_bytes` too, so the hook
;; sees LIMIT (-4) after about 16,000 of them; any other answer traps.)
(module
  (import "wasmod:kv@1" "delete" (func $delete (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 2048) "kv.delete answered LIMIT")
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 4096)
  (func (export "init") (param i32 i32) (result i64)
    (local $i i32) (local $status i32)
    (loop $more
      ;; key: 1 KiB at 0, starting with a counter
      (i32.store (i32.const 0) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $status (call $delete (i32.const 0) (i32.const 1024)))
      (br_if $more (i32.ge_s (local.get $status) (i32.const 0))))
    (if (i32.ne (local.get $status) (i32.const -4)) (then unreachable))
    ;; error region: 24 bytes at 2048
    i64.const 0x8000001800000800))
