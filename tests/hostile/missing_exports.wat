;; expect: install missing-abi-export
(module
  (memory 1)
  (func (export "run") (param i32 i32) (result i64) i64.const 0))
