;; Guests that misbehave, plus one that works (to show the module stays usable).
(module
  (import "taubyte/sdk" "eventHttpWrite" (func $httpWrite (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ok")
  (func (export "ok") (param $ev i32) (result i32)
    (drop (call $httpWrite (local.get $ev) (i32.const 16) (i32.const 2) (i32.const 0)))
    (i32.const 0))
  (func (export "spin") (param $ev i32) (loop $forever (br $forever)))
  (func (export "boom") (param $ev i32) (unreachable))
  ;; grow one page at a time until memory.grow fails (-1), then give up like an allocator would
  (func (export "hog") (param $ev i32)
    (loop $more (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (unreachable))
  (func (export "divzero") (param $ev i32) (drop (i32.div_u (i32.const 1) (local.get $ev))))
  (func (export "two_args") (param i32 i32))
)
