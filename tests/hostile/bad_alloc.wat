;; expect: call BadPointer
;; (the host hands it input; its allocator answers an address outside memory)
(module
  (memory (export "memory") 1)
  (func (export "__wasmod_abi_v1"))
  (func (export "wasmod_alloc") (param i32) (result i32) i32.const 0x7FFFFFF0)
  (func (export "run") (param i32 i32) (result i64) i64.const 0))
