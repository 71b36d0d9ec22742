;; POST /kv?db=<name>&op=<put|get|del|list|close|strict>&k=<key or prefix>; put stores the request body.
;; Answers the value (get), the NUL-terminated key list (list), or `<op>:<errno>` (0 = success).
;; strict: puts the body too, but traps (`unreachable`) when the put fails.
(module
  (import "taubyte/sdk" "getHttpEventQueryValueByNameSize" (func $querySize (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "getHttpEventQueryValueByName" (func $query (param i32 i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "readHttpEventBody" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpWrite" (func $write (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "eventHttpRetCode" (func $ret (param i32 i32) (result i32)))
  (import "taubyte/sdk" "newDatabase" (func $new (param i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databaseGetSize" (func $getSize (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databaseGet" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databasePut" (func $put (param i32 i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databaseDelete" (func $del (param i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databaseListSize" (func $listSize (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databaseList" (func $list (param i32 i32 i32 i32) (result i32)))
  (import "taubyte/sdk" "databaseClose" (func $close (param i32) (result i32)))
  (memory (export "memory") 4)
  ;; 0: size out-param, 4: bytes written, 8: database id, 12: bytes read
  (data (i32.const 100) "db")
  (data (i32.const 110) "op")
  (data (i32.const 120) "k")
  (data (i32.const 130) "new:")
  (data (i32.const 140) "put:")
  (data (i32.const 150) "get:")
  (data (i32.const 160) "del:")
  (data (i32.const 170) "list:")
  (data (i32.const 180) "close:")
  ;; 300..: digits of an errno; 1024: db name; 2048: op; 3072: key; 65536: values (up to 128KB)
  (func $emit (param $ev i32) (param $ptr i32) (param $len i32)
    (drop (call $write (local.get $ev) (local.get $ptr) (local.get $len) (i32.const 4))))
  ;; query value `name` into buf; its length (0 when absent)
  (func $q (param $ev i32) (param $name i32) (param $nameLen i32) (param $buf i32) (result i32)
    (local $n i32)
    (drop (call $querySize (local.get $ev) (i32.const 0) (local.get $name) (local.get $nameLen)))
    (local.set $n (i32.load (i32.const 0)))
    (if (local.get $n) (then
      (drop (call $query (local.get $ev) (local.get $name) (local.get $nameLen) (local.get $buf) (local.get $n)))))
    (local.get $n))
  ;; writes `<label>:<code>` and returns 0
  (func $report (param $ev i32) (param $label i32) (param $labelLen i32) (param $code i32) (result i32)
    (local $p i32)
    (call $emit (local.get $ev) (local.get $label) (local.get $labelLen))
    (local.set $p (i32.const 310))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $code) (i32.const 10))))
      (local.set $code (i32.div_u (local.get $code) (i32.const 10)))
      (br_if $digit (local.get $code)))
    (call $emit (local.get $ev) (local.get $p) (i32.sub (i32.const 310) (local.get $p)))
    (drop (call $ret (local.get $ev) (i32.const 200)))
    (i32.const 0))
  (func (export "kv") (param $ev i32) (result i32)
    (local $dbLen i32) (local $op i32) (local $kLen i32) (local $rc i32) (local $n i32) (local $total i32)
    (local.set $dbLen (call $q (local.get $ev) (i32.const 100) (i32.const 2) (i32.const 1024)))
    (drop (call $q (local.get $ev) (i32.const 110) (i32.const 2) (i32.const 2048)))
    (local.set $op (i32.load8_u (i32.const 2048)))
    (local.set $kLen (call $q (local.get $ev) (i32.const 120) (i32.const 1) (i32.const 3072)))
    (local.set $rc (call $new (i32.const 1024) (local.get $dbLen) (i32.const 8)))
    (if (local.get $rc) (then (return (call $report (local.get $ev) (i32.const 130) (i32.const 4) (local.get $rc)))))
    ;; put: the body, read to EOF
    (if (i32.eq (local.get $op) (i32.const 112)) (then
      (block $done
        (loop $more
          (local.set $rc (call $read (local.get $ev) (i32.add (i32.const 65536) (local.get $total)) (i32.const 4096) (i32.const 12)))
          (local.set $total (i32.add (local.get $total) (i32.load (i32.const 12))))
          (br_if $done (local.get $rc))
          (br $more)))
      (return (call $report (local.get $ev) (i32.const 140) (i32.const 4)
        (call $put (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen) (i32.const 65536) (local.get $total))))))
    ;; strict: a put that must not fail
    (if (i32.eq (local.get $op) (i32.const 115)) (then
      (block $read
        (loop $more
          (local.set $rc (call $read (local.get $ev) (i32.add (i32.const 65536) (local.get $total)) (i32.const 4096) (i32.const 12)))
          (local.set $total (i32.add (local.get $total) (i32.load (i32.const 12))))
          (br_if $read (local.get $rc))
          (br $more)))
      (if (call $put (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen) (i32.const 65536) (local.get $total))
        (then (unreachable)))
      (return (call $report (local.get $ev) (i32.const 140) (i32.const 4) (i32.const 0)))))
    ;; get
    (if (i32.eq (local.get $op) (i32.const 103)) (then
      (local.set $rc (call $getSize (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen) (i32.const 0)))
      (if (local.get $rc) (then (return (call $report (local.get $ev) (i32.const 150) (i32.const 4) (local.get $rc)))))
      (local.set $n (i32.load (i32.const 0)))
      (local.set $rc (call $get (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen) (i32.const 65536)))
      (if (local.get $rc) (then (return (call $report (local.get $ev) (i32.const 150) (i32.const 4) (local.get $rc)))))
      (call $emit (local.get $ev) (i32.const 65536) (local.get $n))
      (drop (call $ret (local.get $ev) (i32.const 200)))
      (return (i32.const 0))))
    ;; del
    (if (i32.eq (local.get $op) (i32.const 100)) (then
      (return (call $report (local.get $ev) (i32.const 160) (i32.const 4)
        (call $del (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen))))))
    ;; list
    (if (i32.eq (local.get $op) (i32.const 108)) (then
      (local.set $rc (call $listSize (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen) (i32.const 0)))
      (if (local.get $rc) (then (return (call $report (local.get $ev) (i32.const 170) (i32.const 5) (local.get $rc)))))
      (local.set $n (i32.load (i32.const 0)))
      (local.set $rc (call $list (i32.load (i32.const 8)) (i32.const 3072) (local.get $kLen) (i32.const 65536)))
      (if (local.get $rc) (then (return (call $report (local.get $ev) (i32.const 170) (i32.const 5) (local.get $rc)))))
      (call $emit (local.get $ev) (i32.const 65536) (local.get $n))
      (drop (call $ret (local.get $ev) (i32.const 200)))
      (return (i32.const 0))))
    ;; close: the database, then an id never handed out (25)
    (local.set $rc (call $close (i32.load (i32.const 8))))
    (call $emit (local.get $ev) (i32.const 180) (i32.const 6))
    (drop (call $report (local.get $ev) (i32.const 180) (i32.const 0) (local.get $rc)))
    (call $report (local.get $ev) (i32.const 185) (i32.const 1)
      (call $close (i32.add (i32.load (i32.const 8)) (i32.const 100)))))
)
