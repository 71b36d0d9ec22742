/* dream's C SDK for Taubyte functions: the taubyte/sdk host imports plus tiny helpers.
 * Build with zig cc -target wasm32-wasi -mexec-model=reactor (the dream/c-wasi image does this).
 * Export a handler with TAUBYTE_EXPORT("name") uint32_t name(uint32_t event). */
#ifndef TAUBYTE_H
#define TAUBYTE_H

#include <stddef.h>
#include <stdint.h>

#define TAUBYTE_IMPORT(name) __attribute__((import_module("taubyte/sdk"), import_name(name)))
#define TAUBYTE_EXPORT(name) __attribute__((export_name(name), visibility("default")))

enum { TAUBYTE_EVENT_UNDEFINED = 0, TAUBYTE_EVENT_HTTP = 1, TAUBYTE_EVENT_PUBSUB = 2, TAUBYTE_EVENT_P2P = 3 };
enum { TAUBYTE_OK = 0, TAUBYTE_ERR_EOF = 8 };

/* Host imports: every argument is an i32; results are errno codes (0 = success). */
TAUBYTE_IMPORT("getEventType") void taubyte_getEventType(uint32_t ev, uint32_t *type);
TAUBYTE_IMPORT("getHttpEventMethodSize") uint32_t taubyte_getHttpEventMethodSize(uint32_t ev, uint32_t *size);
TAUBYTE_IMPORT("getHttpEventMethod") uint32_t taubyte_getHttpEventMethod(uint32_t ev, char *buf, uint32_t size);
TAUBYTE_IMPORT("getHttpEventHostSize") uint32_t taubyte_getHttpEventHostSize(uint32_t ev, uint32_t *size);
TAUBYTE_IMPORT("getHttpEventHost") uint32_t taubyte_getHttpEventHost(uint32_t ev, char *buf, uint32_t size);
TAUBYTE_IMPORT("getHttpEventPathSize") uint32_t taubyte_getHttpEventPathSize(uint32_t ev, uint32_t *size);
TAUBYTE_IMPORT("getHttpEventPath") uint32_t taubyte_getHttpEventPath(uint32_t ev, char *buf, uint32_t size);
TAUBYTE_IMPORT("getHttpEventUserAgentSize") uint32_t taubyte_getHttpEventUserAgentSize(uint32_t ev, uint32_t *size);
TAUBYTE_IMPORT("getHttpEventUserAgent") uint32_t taubyte_getHttpEventUserAgent(uint32_t ev, char *buf, uint32_t size);
TAUBYTE_IMPORT("getHttpEventHeadersSize")
uint32_t taubyte_getHttpEventHeadersSize(uint32_t ev, uint32_t *size, const char *key, uint32_t key_len);
TAUBYTE_IMPORT("getHttpEventHeaders")
uint32_t taubyte_getHttpEventHeaders(uint32_t ev, const char *key, uint32_t key_len, char *buf, uint32_t size);
TAUBYTE_IMPORT("getHttpEventQueryValueByNameSize")
uint32_t taubyte_getHttpEventQueryValueByNameSize(uint32_t ev, uint32_t *size, const char *key, uint32_t key_len);
TAUBYTE_IMPORT("getHttpEventQueryValueByName")
uint32_t taubyte_getHttpEventQueryValueByName(uint32_t ev, const char *key, uint32_t key_len, char *buf, uint32_t size);
TAUBYTE_IMPORT("readHttpEventBody")
uint32_t taubyte_readHttpEventBody(uint32_t ev, char *buf, uint32_t size, uint32_t *count);
TAUBYTE_IMPORT("closeHttpEventBody") uint32_t taubyte_closeHttpEventBody(uint32_t ev);
TAUBYTE_IMPORT("eventHttpHeaderAdd")
uint32_t taubyte_eventHttpHeaderAdd(uint32_t ev, const char *key, uint32_t key_len, const char *val, uint32_t val_len);
TAUBYTE_IMPORT("eventHttpRetCode") uint32_t taubyte_eventHttpRetCode(uint32_t ev, uint32_t code);
TAUBYTE_IMPORT("eventHttpWrite") uint32_t taubyte_eventHttpWrite(uint32_t ev, const char *buf, uint32_t size, uint32_t *n);
TAUBYTE_IMPORT("eventHttpRedirect")
uint32_t taubyte_eventHttpRedirect(uint32_t ev, const char *url, uint32_t url_len, uint32_t code);

/* Helpers (no libc needed). */
static inline uint32_t taubyte_strlen(const char *s) {
    uint32_t n = 0;
    while (s[n]) n++;
    return n;
}

static inline uint32_t taubyte_event_type(uint32_t ev) {
    uint32_t type = TAUBYTE_EVENT_UNDEFINED;
    taubyte_getEventType(ev, &type);
    return type;
}

static inline uint32_t taubyte_http_write(uint32_t ev, const void *data, uint32_t len) {
    uint32_t n = 0;
    return taubyte_eventHttpWrite(ev, (const char *)data, len, &n);
}

static inline uint32_t taubyte_http_write_str(uint32_t ev, const char *s) {
    return taubyte_http_write(ev, s, taubyte_strlen(s));
}

static inline uint32_t taubyte_http_return(uint32_t ev, uint32_t code) { return taubyte_eventHttpRetCode(ev, code); }

static inline uint32_t taubyte_http_set_header(uint32_t ev, const char *key, const char *value) {
    return taubyte_eventHttpHeaderAdd(ev, key, taubyte_strlen(key), value, taubyte_strlen(value));
}

/* Copy the request method into buf (NUL-terminated); returns its length or -1 if it does not fit. */
static inline int32_t taubyte_http_method(uint32_t ev, char *buf, uint32_t cap) {
    uint32_t size = 0;
    if (taubyte_getHttpEventMethodSize(ev, &size) || size + 1 > cap) return -1;
    if (taubyte_getHttpEventMethod(ev, buf, size)) return -1;
    buf[size] = 0;
    return (int32_t)size;
}

static inline int32_t taubyte_http_path(uint32_t ev, char *buf, uint32_t cap) {
    uint32_t size = 0;
    if (taubyte_getHttpEventPathSize(ev, &size) || size + 1 > cap) return -1;
    if (taubyte_getHttpEventPath(ev, buf, size)) return -1;
    buf[size] = 0;
    return (int32_t)size;
}

/* First value of a request header or query parameter ("" when absent); -1 if it does not fit. */
static inline int32_t taubyte_http_header(uint32_t ev, const char *key, char *buf, uint32_t cap) {
    uint32_t size = 0, klen = taubyte_strlen(key);
    if (taubyte_getHttpEventHeadersSize(ev, &size, key, klen) || size + 1 > cap) return -1;
    if (size && taubyte_getHttpEventHeaders(ev, key, klen, buf, size)) return -1;
    buf[size] = 0;
    return (int32_t)size;
}

static inline int32_t taubyte_http_query(uint32_t ev, const char *key, char *buf, uint32_t cap) {
    uint32_t size = 0, klen = taubyte_strlen(key);
    if (taubyte_getHttpEventQueryValueByNameSize(ev, &size, key, klen) || size + 1 > cap) return -1;
    if (size && taubyte_getHttpEventQueryValueByName(ev, key, klen, buf, size)) return -1;
    buf[size] = 0;
    return (int32_t)size;
}

/* Read the request body (up to cap bytes); returns the byte count or -1 on error. */
static inline int32_t taubyte_http_body(uint32_t ev, char *buf, uint32_t cap) {
    uint32_t total = 0;
    while (total < cap) {
        uint32_t n = 0, err = taubyte_readHttpEventBody(ev, buf + total, cap - total, &n);
        total += n;
        if (err == TAUBYTE_ERR_EOF) break;
        if (err) return -1;
        if (n == 0) break;
    }
    taubyte_closeHttpEventBody(ev);
    return (int32_t)total;
}

#endif /* TAUBYTE_H */
