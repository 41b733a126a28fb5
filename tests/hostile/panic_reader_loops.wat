;; expect: call Trap
;; limits: fuel=1000 timeout_ms=10000
;; max_fuel_used: 1000
;; max_wall_ms: 5000
;; (after `unreachable` the host asks the guest for its panic message; this reader
;; fills a megabyte of memory, forever. It used to run on a fixed, uncharged million
;; units of fuel, about half a minute of this loop, whatever fuel the call had; now it
;; runs on what the call has left and is charged for it, so it gets no message out)
(module
  (memory (export "memory") 16)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "__wasmod_panic_message") (result i64)
    (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x100000)) (br $l))
    i64.const 0)
  (func (export "run") (param i32 i32) (result i64) unreachable))
