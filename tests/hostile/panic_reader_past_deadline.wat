;; expect: call DeadlineExceeded
;; limits: fuel=9000000000000000000 timeout_ms=100
;; max_wall_ms: 3000
;; (the panic-message reader fills a megabyte of memory forever, with all the fuel in
;; the world: the call's deadline still stops it. The reader used to run after the
;; deadline watch had ended.)
(module
  (memory (export "memory") 16)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "__wasmod_panic_message") (result i64)
    (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x100000)) (br $l))
    i64.const 0)
  (func (export "run") (param i32 i32) (result i64) unreachable))
