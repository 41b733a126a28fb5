;; expect: install signature-collision
;; message: log.write
;; (an unused type whose engine identity, a 32-bit CRC of its parameter and result
;; types, equals that of `log.write`'s (i32, i32, i32) -> (); CRC is affine, so the 32
;; parameters below come out of one linear system. It used to install, and activating
;; it next to any function importing `log.write` panicked inside wasmer ("type
;; signature collision"), poisoning its locks.)
(module
  (type (func (param i64 i64 i32 i32 i32 i64 i64 i64 i64 i64 i64 i64 i32 i64 i32 i64
                     i64 i64 i32 i64 i32 i32 i32 i64 i64 i64 i32 i64 i32 i64 i64 i32)))
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 1024)
  (func (export "run") (param i32 i32) (result i64) i64.const 0))
