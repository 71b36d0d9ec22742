;; Reactor form (TinyGo/gc -buildmode=c-shared): _initialize must run before the handler.
(module
  (import "taubyte/sdk" "eventHttpWrite" (func $httpWrite (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "cold")
  (data (i32.const 32) "warm")
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $ready (i32.const 1)))
  (func (export "ping") (param $ev i32)
    (drop (call $httpWrite (local.get $ev)
      (select (i32.const 32) (i32.const 16) (global.get $ready)) (i32.const 4) (i32.const 8))))
)
