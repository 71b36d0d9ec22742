;; Response headers and redirects taken from the query string, the way a careless function would:
;;   add       GET ?name=..&value=..  adds that header, then `X-After: still here`; body `add=<errno>`
;;   redirect  GET ?to=..             redirects there with 302; body ends with `redirect=<errno>`
;;   ping      GET                    `PONG`, to show the node serves on
;; Layout: 0 size slot, 4 count slot, 12 one-digit slot, 16.. constants, 1024 name, 8192 value, 16384 target.
(module
  (import "taubyte/sdk" "getHttpEventQueryValueByNameSize" (func $querySize (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "getHttpEventQueryValueByName" (func $query (param i32 i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpHeaderAdd" (func $headerAdd (param i32 i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRedirect" (func $redirect (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $retCode (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "name")
  (data (i32.const 24) "value")
  (data (i32.const 32) "to")
  (data (i32.const 40) "add=")
  (data (i32.const 48) "redirect=")
  (data (i32.const 64) "X-After")
  (data (i32.const 80) "still here")
  (data (i32.const 96) "PONG")

  ;; the query value of key (ptr, len) copied to buf; its length
  (func $q (param $ev i32) (param $key i32) (param $klen i32) (param $buf i32) (result i32)
    (drop (call $querySize (local.get $ev) (i32.const 0) (local.get $key) (local.get $klen)))
    (drop (call $query (local.get $ev) (local.get $key) (local.get $klen) (local.get $buf) (i32.load (i32.const 0))))
    (i32.load (i32.const 0)))
  ;; writes the label (ptr, len) and the errno as one decimal digit
  (func $say (param $ev i32) (param $ptr i32) (param $len i32) (param $code i32)
    (drop (call $write (local.get $ev) (local.get $ptr) (local.get $len) (i32.const 4)))
    (i32.store8 (i32.const 12) (i32.add (i32.const 48) (local.get $code)))
    (drop (call $write (local.get $ev) (i32.const 12) (i32.const 1) (i32.const 4))))

  (func (export "add") (param $ev i32) (result i32)
    (local $n i32) (local $v i32)
    (local.set $n (call $q (local.get $ev) (i32.const 16) (i32.const 4) (i32.const 1024)))
    (local.set $v (call $q (local.get $ev) (i32.const 24) (i32.const 5) (i32.const 8192)))
    (call $say (local.get $ev) (i32.const 40) (i32.const 4)
      (call $headerAdd (local.get $ev) (i32.const 1024) (local.get $n) (i32.const 8192) (local.get $v)))
    (drop (call $headerAdd (local.get $ev) (i32.const 64) (i32.const 7) (i32.const 80) (i32.const 10)))
    (drop (call $retCode (local.get $ev) (i32.const 200)))
    (i32.const 0))

  (func (export "redirect") (param $ev i32) (result i32)
    (local $t i32)
    (local.set $t (call $q (local.get $ev) (i32.const 32) (i32.const 2) (i32.const 16384)))
    (call $say (local.get $ev) (i32.const 48) (i32.const 9)
      (call $redirect (local.get $ev) (i32.const 16384) (local.get $t) (i32.const 302)))
    (i32.const 0))

  (func (export "ping") (param $ev i32) (result i32)
    (drop (call $write (local.get $ev) (i32.const 96) (i32.const 4) (i32.const 4)))
    (drop (call $retCode (local.get $ev) (i32.const 200)))
    (i32.const 0))
)
