;; WASI command form, as production TinyGo builds: _start checks argv (TinyGo traps on an empty argv),
;; calls env._ready, and the handler runs afterwards. The handler echoes argv[0].
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $argsSizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $argsGet (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "env" "_ready" (func $ready))
  (import "taubyte/sdk" "eventHttpWrite" (func $httpWrite (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $started (mut i32) (i32.const 0))
  (global $exitCode (mut i32) (i32.const -1))   ;; patched by tests: >= 0 means "_start ends in proc_exit"
  (func (export "_start")
    (drop (call $argsSizes (i32.const 0) (i32.const 4)))
    (if (i32.eqz (i32.load (i32.const 0))) (then (unreachable)))
    (drop (call $argsGet (i32.const 16) (i32.const 64)))
    (global.set $started (i32.const 1))
    (call $ready)
    (if (i32.ge_s (global.get $exitCode) (i32.const 0)) (then (call $exit (global.get $exitCode)))))
  (func (export "ping") (param $ev i32) (result i32)
    (if (global.get $started)
      (then (drop (call $httpWrite (local.get $ev) (i32.const 64)
                   (i32.sub (i32.load (i32.const 4)) (i32.const 1)) (i32.const 8)))))
    (i32.const 0))
)
