;; expect: call GuestError
;; groups: kv
;; message: kv.set answered LIMIT
;; max_wall_ms: 20000
;; (a call writes 1 MiB values under new keys in a loop: there was no bound on the disk
;; a module's kv data takes. Now a module keeps at most the policy's
;; `kv.max_bytes_per_module` (8 MiB in the tests' policy), and the write past it gets
;; LIMIT (-4) and writes nothing; any other answer traps.)
(module
  (import "wasmod:kv@1" "set" (func $set (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 17)
  (data (i32.const 16) "kv.set answered LIMIT")
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64)
    (local $i i32) (local $status i32)
    (loop $more
      ;; key: a 4-byte counter at 0; value: 1 MiB at 64 KiB
      (i32.store (i32.const 0) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (local.set $status (call $set (i32.const 0) (i32.const 4) (i32.const 0x10000) (i32.const 0x100000)))
      (br_if $more (i32.eqz (local.get $status))))
    (if (i32.ne (local.get $status) (i32.const -4)) (then unreachable))
    ;; error region: 21 bytes at 16
    i64.const 0x8000001500000010))
