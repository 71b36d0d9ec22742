/* One request's wasm life in C, and the HTTP event host calls every function makes, as C callbacks.
 *
 * The raw call path (rawcall.py, hostcall.py) makes each step of a call a ctypes call and each host
 * call a ctypes callback into Python; on a PONG request that Python layer costs more than the work
 * wasmtime and the guest do. Here `run` does the same steps (new store, memory limit, epoch deadline,
 * optional WASI, instantiate the pre-linked module, `_initialize`/`_start`, the export with event id 0,
 * delete the store) in one call, and the host calls that only read the request or append to the
 * response (`getEventType`, method/host/path and their sizes, `eventHttpRetCode`, `eventHttpWrite`,
 * `eventHttpFlush`) run in C against the call's HttpEvent. Every other host call stays a Python
 * callback, defined as before. A fresh store and instance per request, the store's limits, the epoch
 * deadline and the deadline checks (`interrupt.arm`) are all kept: this is the same call, made in C.
 *
 * It talks to the libwasmtime that wasmtime-py loaded (its path is given to `init`), with the C API's
 * prototypes declared below; the struct sizes it relies on are checked against wasmtime-py's at `init`.
 * Guest memory is bounds-checked on every access, and the errno values are those of dream/wasm/abi.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

/* -- the wasmtime C API, as far as used (opaque pointers; structs as sized buffers) ---------------- */

typedef struct {
    _Alignas(16) unsigned char bytes[64];
} extern_t; /* wasmtime_extern_t: kind (u8) at 0, the union at `extern_of` */
typedef struct {
    _Alignas(16) unsigned char bytes[32];
} instance_t; /* wasmtime_instance_t */
typedef union {
    int32_t i32;
    int64_t i64;
    unsigned char v128[16];
} val_raw_t; /* wasmtime_val_raw_t */

typedef void *(*callback_t)(void *env, void *caller, val_raw_t *args, size_t nargs);

static void *(*store_new)(void *engine, void *data, void (*finalizer)(void *));
static void *(*store_context)(void *store);
static void (*store_limiter)(void *store, int64_t memory, int64_t tables, int64_t instances, int64_t n_tables,
                             int64_t n_memories);
static void (*store_delete)(void *store);
static void (*set_deadline)(void *ctx, uint64_t ticks);
static void *(*set_wasi)(void *ctx, void *wasi);
static void *(*instantiate)(void *pre, void *ctx, instance_t *instance, void **trap);
static bool (*export_get)(void *ctx, const instance_t *instance, const char *name, size_t len, extern_t *item);
static void *(*call_unchecked)(void *ctx, const void *func, val_raw_t *vals, size_t n, void **trap);
static void *(*caller_context)(void *caller);
static bool (*caller_export_get)(void *caller, const char *name, size_t len, extern_t *item);
static uint8_t *(*memory_data)(const void *ctx, const void *memory);
static size_t (*memory_data_size)(const void *ctx, const void *memory);
static bool (*error_exit_status)(const void *error, int *status);
static void (*error_delete)(void *error);
static void *(*define_unchecked)(void *linker, const char *module, size_t module_len, const char *name,
                                 size_t name_len, const void *ty, callback_t cb, void *data,
                                 void (*finalizer)(void *));

static size_t extern_of;      /* offset of the union in wasmtime_extern_t */
static unsigned kind_func, kind_memory;
static bool ready;

/* -- errno (dream/wasm/errno.py) -------------------------------------------------------------------- */

enum {
    E_NONE = 0,
    E_EVENT_NOT_FOUND = 1,
    E_BUFFER_TOO_SMALL = 2,
    E_ADDRESS_OUT_OF_MEMORY = 3,
    E_HTTP_WRITE = 5,
    E_MEMORY_WRITE_FAILED = 12,
};

/* -- the call's request, as the C host calls see it ------------------------------------------------- */

enum {
    H_EVENT_TYPE,
    H_METHOD_SIZE,
    H_METHOD,
    H_HOST_SIZE,
    H_HOST,
    H_PATH_SIZE,
    H_PATH,
    H_RET_CODE,
    H_WRITE,
    H_FLUSH,
    H_HEADER_ADD,
    H_COUNT
};

static const char *const host_names[H_COUNT] = {
    "getEventType",          "getHttpEventMethodSize", "getHttpEventMethod", "getHttpEventHostSize",
    "getHttpEventHost",      "getHttpEventPathSize",   "getHttpEventPath",   "eventHttpRetCode",
    "eventHttpWrite",        "eventHttpFlush",         "eventHttpHeaderAdd",
};

typedef struct request {
    PyObject *event;     /* the HttpEvent (borrowed: the caller holds it); NULL for a call made by `serve` */
    PyObject *values[3]; /* method, host, path: bytes (owned) */
    PyObject *body;      /* the event's resp_body bytearray (owned), NULL when it has none */
    int32_t kind;        /* what getEventType answers */
    bool has_memory;
    extern_t memory; /* the instance's exported memory, found on first use */
    uint32_t counts[H_COUNT];
    /* A call made by `serve` keeps its answer here rather than in an HttpEvent. */
    int32_t status;     /* the first valid code (0: none yet) */
    PyObject *headers;  /* list of (bytes, bytes) pairs (owned) */
    PyObject *odd;      /* callable for a header the C check does not pass (borrowed) */
    int problems;       /* headers it dropped or rewrote */
} request_t;

static __thread request_t *current;
static PyObject *host_name_objects[H_COUNT]; /* the names as interned str, for the inspector's counts */
static PyObject *s_add_header, *s_resp_headers;
static PyObject *s_method, *s_host, *s_path, *s_kind, *s_resp_body, *s_status, *s_ctx, *s_host_calls,
    *s_measure, *s_used_memory, *s_wasm_ns, *s_instantiate_ns, *s_pages, *s_memory;

static int fill_request(request_t *req, PyObject *event) {
    memset(req, 0, sizeof *req);
    req->event = event;
    req->kind = 1; /* HTTP */
    PyObject *names[3] = {s_method, s_host, s_path};
    for (int i = 0; i < 3; i++) {
        PyObject *value = PyObject_GetAttr(event, names[i]);
        if (value == NULL || !PyBytes_Check(value)) {
            /* An event without the value (the self-test's): the host call answers it empty. */
            Py_XDECREF(value);
            PyErr_Clear();
            value = PyBytes_FromStringAndSize("", 0);
            if (value == NULL)
                return -1;
        }
        req->values[i] = value;
    }
    PyObject *kind = PyObject_GetAttr(event, s_kind);
    if (kind != NULL && PyLong_Check(kind))
        req->kind = (int32_t)PyLong_AsLong(kind);
    Py_XDECREF(kind);
    PyObject *body = PyObject_GetAttr(event, s_resp_body);
    if (body != NULL && PyByteArray_Check(body))
        req->body = body;
    else
        Py_XDECREF(body);
    PyErr_Clear();
    return 0;
}

static void clear_request(request_t *req) {
    for (int i = 0; i < 3; i++)
        Py_CLEAR(req->values[i]);
    Py_CLEAR(req->body);
    Py_CLEAR(req->headers);
}

/* -- guest memory, bounds-checked -------------------------------------------------------------------- */

static uint8_t *guest_span(void *caller, request_t *req, uint32_t ptr, uint64_t len) {
    if (!req->has_memory) {
        if (!caller_export_get(caller, "memory", 6, &req->memory) || req->memory.bytes[0] != kind_memory)
            return NULL;
        req->has_memory = true;
    }
    void *ctx = caller_context(caller);
    const void *memory = req->memory.bytes + extern_of;
    /* Linear memory only grows, so its size is read on each access: the guest may have grown it. */
    if ((uint64_t)ptr + len > (uint64_t)memory_data_size(ctx, memory))
        return NULL;
    return memory_data(ctx, memory) + ptr;
}

static bool put_u32(void *caller, request_t *req, uint32_t ptr, uint32_t value) {
    uint8_t *at = guest_span(caller, req, ptr, 4);
    if (at == NULL)
        return false;
    memcpy(at, &value, 4); /* wasm is little-endian, as is every host this builds on */
    return true;
}

/* -- the host calls ----------------------------------------------------------------------------------- */

static int32_t value_size(void *caller, request_t *req, int which, uint32_t size_ptr) {
    Py_ssize_t n = PyBytes_GET_SIZE(req->values[which]);
    return put_u32(caller, req, size_ptr, (uint32_t)n) ? E_NONE : E_MEMORY_WRITE_FAILED;
}

static int32_t value_data(void *caller, request_t *req, int which, uint32_t buf, uint32_t buf_size, bool exact) {
    PyObject *value = req->values[which];
    Py_ssize_t n = PyBytes_GET_SIZE(value);
    /* tau's getHttpEventMethod insists on an exact size; for the others a bigger buffer is fine. */
    if ((exact && (Py_ssize_t)buf_size != n) || (Py_ssize_t)buf_size < n)
        return E_BUFFER_TOO_SMALL;
    uint8_t *at = guest_span(caller, req, buf, (uint64_t)n);
    if (at == NULL)
        return E_ADDRESS_OUT_OF_MEMORY;
    memcpy(at, PyBytes_AS_STRING(value), (size_t)n);
    return E_NONE;
}

static int32_t ret_code(request_t *req, int32_t code) {
    if (code < 100 || code > 999)
        return E_HTTP_WRITE;
    if (req->event == NULL) {
        if (req->status == 0)
            req->status = code;
        return E_NONE;
    }
    /* The first valid code wins (event.HttpEvent.ret_code): the Python host calls share the field. */
    int32_t out = E_NONE;
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *status = PyObject_GetAttr(req->event, s_status);
    if (status == NULL) {
        PyErr_Clear();
        out = E_HTTP_WRITE;
    } else {
        if (status == Py_None) {
            PyObject *value = PyLong_FromLong(code);
            if (value == NULL || PyObject_SetAttr(req->event, s_status, value) < 0) {
                PyErr_Clear();
                out = E_HTTP_WRITE;
            }
            Py_XDECREF(value);
        }
        Py_DECREF(status);
    }
    PyGILState_Release(gil);
    return out;
}

static int32_t write_body(void *caller, request_t *req, uint32_t buf, uint32_t size, uint32_t n_ptr) {
    uint8_t *at = guest_span(caller, req, buf, size);
    if (at == NULL)
        return E_ADDRESS_OUT_OF_MEMORY;
    if (req->body == NULL)
        return E_HTTP_WRITE;
    int32_t out = E_NONE;
    if (size > 0) {
        PyGILState_STATE gil = PyGILState_Ensure();
        Py_ssize_t had = PyByteArray_GET_SIZE(req->body);
        if (PyByteArray_Resize(req->body, had + (Py_ssize_t)size) < 0) {
            PyErr_Clear();
            out = E_HTTP_WRITE;
        } else {
            memcpy(PyByteArray_AS_STRING(req->body) + had, at, size);
        }
        PyGILState_Release(gil);
    }
    if (out != E_NONE)
        return out;
    return put_u32(caller, req, n_ptr, size) ? E_NONE : E_MEMORY_WRITE_FAILED;
}

/* RFC 9110 token characters (event.py _TOKEN_CHARS). */
static bool is_token(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A header of a `serve` call that the C check does not pass: `odd(name, value, first)` checks it as
 * event.check_header does and answers (errno, the (bytes, bytes) pair to send or None, whether it was
 * dropped or rewritten); `first` says whether to log it (one line per call). Called with the GIL. */
static int32_t odd_header(request_t *req, PyObject *k, PyObject *v) {
    if (k == NULL || v == NULL)
        return E_HTTP_WRITE;
    PyObject *result = PyObject_CallFunctionObjArgs(req->odd, k, v, req->problems == 0 ? Py_True : Py_False, NULL);
    int32_t out = E_HTTP_WRITE;
    if (result != NULL && PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 3) {
        PyObject *pair = PyTuple_GET_ITEM(result, 1);
        out = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(result, 0));
        if (PyObject_IsTrue(PyTuple_GET_ITEM(result, 2)) == 1)
            req->problems++;
        if (pair != Py_None && PyList_Append(req->headers, pair) < 0)
            out = E_HTTP_WRITE;
    }
    Py_XDECREF(result);
    return out;
}

/* eventHttpHeaderAdd: the usual header (a token name, a value of printable ASCII) is appended here,
 * canonical as Go writes it; anything else goes to HttpEvent.add_header, which checks it as Go's
 * net/http would (event.check_header) and logs what it dropped or rewrote. */
static int32_t header_add(void *caller, request_t *req, uint32_t key_ptr, uint32_t key_len, uint32_t val_ptr,
                          uint32_t val_len) {
    uint8_t *key = guest_span(caller, req, key_ptr, key_len);
    uint8_t *value = guest_span(caller, req, val_ptr, val_len);
    if (key == NULL || value == NULL)
        return E_ADDRESS_OUT_OF_MEMORY;
    char name[256];
    bool usual = key_len > 0 && key_len < sizeof name;
    for (uint32_t i = 0; usual && i < key_len; i++) {
        usual = is_token(key[i]);
        /* Go's CanonicalMIMEHeaderKey: upper case after the start and after each '-', lower elsewhere. */
        unsigned char c = key[i];
        bool upper = i == 0 || key[i - 1] == '-';
        if (upper && c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        else if (!upper && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        name[i] = (char)c;
    }
    for (uint32_t i = 0; usual && i < val_len; i++)
        usual = value[i] >= 0x20 && value[i] < 0x7f;
    if (usual && key_len == 14 && memcmp(name, "Content-Length", 14) == 0)
        usual = false; /* its value must be a number: checked in Python */
    int32_t out = E_NONE;
    PyGILState_STATE gil = PyGILState_Ensure();
    if (usual) {
        uint32_t start = 0, end = val_len; /* spaces at both ends go (str.strip(" ")) */
        while (start < end && value[start] == ' ')
            start++;
        while (end > start && value[end - 1] == ' ')
            end--;
        PyObject *headers = req->event == NULL ? Py_XNewRef(req->headers) : PyObject_GetAttr(req->event, s_resp_headers);
        /* `serve` answers with bytes, as the HTTP server writes them (the value is plain ASCII). */
        PyObject *pair = Py_BuildValue(req->event == NULL ? "(y#y#)" : "(s#s#)", name, (Py_ssize_t)key_len,
                                       (const char *)value + start, (Py_ssize_t)(end - start));
        if (headers == NULL || pair == NULL || !PyList_Check(headers) || PyList_Append(headers, pair) < 0)
            out = E_HTTP_WRITE;
        Py_XDECREF(pair);
        Py_XDECREF(headers);
    } else {
        PyObject *k = PyUnicode_DecodeUTF8((const char *)key, key_len, "replace");
        PyObject *v = PyUnicode_DecodeUTF8((const char *)value, val_len, "replace");
        if (req->event == NULL) {
            out = odd_header(req, k, v);
        } else {
            PyObject *result = k != NULL && v != NULL
                                   ? PyObject_CallMethodObjArgs(req->event, s_add_header, k, v, NULL)
                                   : NULL;
            out = result != NULL && PyLong_Check(result) ? (int32_t)PyLong_AsLong(result) : E_HTTP_WRITE;
            Py_XDECREF(result);
        }
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable(req->event); /* logged, as a Python host call's failure is */
        out = E_HTTP_WRITE;
    }
    PyGILState_Release(gil);
    return out;
}

static void *host_call(void *env, void *caller, val_raw_t *args, size_t nargs) {
    int which = (int)(intptr_t)env;
    request_t *req = current;
    (void)nargs;
    /* Event id 0 is the call's only event (a fresh instance per request); another id is not found. */
    bool found = req != NULL && args[0].i32 == 0;
    if (req != NULL)
        req->counts[which]++;
    int32_t out;
    switch (which) {
    case H_EVENT_TYPE:
        if (found) /* unknown id: write nothing, the guest keeps its zero value */
            put_u32(caller, req, (uint32_t)args[1].i32, (uint32_t)req->kind);
        return NULL;
    case H_METHOD_SIZE:
    case H_HOST_SIZE:
    case H_PATH_SIZE:
        out = found ? value_size(caller, req, (which - H_METHOD_SIZE) / 2, (uint32_t)args[1].i32)
                    : E_EVENT_NOT_FOUND;
        break;
    case H_METHOD:
    case H_HOST:
    case H_PATH:
        out = found ? value_data(caller, req, (which - H_METHOD) / 2, (uint32_t)args[1].i32,
                                 (uint32_t)args[2].i32, which == H_METHOD)
                    : E_EVENT_NOT_FOUND;
        break;
    case H_RET_CODE:
        out = found ? ret_code(req, args[1].i32) : E_EVENT_NOT_FOUND;
        break;
    case H_WRITE:
        out = found ? write_body(caller, req, (uint32_t)args[1].i32, (uint32_t)args[2].i32, (uint32_t)args[3].i32)
                    : E_EVENT_NOT_FOUND;
        break;
    case H_HEADER_ADD:
        out = found ? header_add(caller, req, (uint32_t)args[1].i32, (uint32_t)args[2].i32, (uint32_t)args[3].i32,
                                 (uint32_t)args[4].i32)
                    : E_EVENT_NOT_FOUND;
        break;
    case H_FLUSH: /* the response is buffered until the export returns */
        out = found ? E_NONE : E_EVENT_NOT_FOUND;
        break;
    default:
        out = E_HTTP_WRITE;
    }
    memset(&args[0], 0, sizeof args[0]);
    args[0].i32 = out;
    return NULL; /* no trap */
}

/* -- Python API ---------------------------------------------------------------------------------------- */

static int resolve(void *lib, const char *name, void **slot) {
    *slot = dlsym(lib, name);
    if (*slot == NULL) {
        PyErr_Format(PyExc_ImportError, "libwasmtime has no symbol %s", name);
        return -1;
    }
    return 0;
}

static PyObject *py_init(PyObject *self, PyObject *args) {
    const char *path;
    Py_ssize_t extern_size, of, instance_size, val_size;
    unsigned func, memory;
    if (!PyArg_ParseTuple(args, "snnnnII", &path, &extern_size, &of, &instance_size, &val_size, &func, &memory))
        return NULL;
    if (extern_size > (Py_ssize_t)sizeof(extern_t) || instance_size > (Py_ssize_t)sizeof(instance_t) ||
        val_size != (Py_ssize_t)sizeof(val_raw_t) || of <= 0 || of >= extern_size) {
        PyErr_Format(PyExc_ImportError,
                     "wasmtime's structs changed size (extern %zd, instance %zd, raw value %zd); "
                     "this build expects at most %zu, %zu and exactly %zu bytes",
                     extern_size, instance_size, val_size, sizeof(extern_t), sizeof(instance_t),
                     sizeof(val_raw_t));
        return NULL;
    }
    /* The library wasmtime-py already loaded: the same handle, the same engine and stores. */
    void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (lib == NULL)
        lib = dlopen(path, RTLD_NOW);
    if (lib == NULL) {
        PyErr_Format(PyExc_ImportError, "cannot open %s: %s", path, dlerror());
        return NULL;
    }
    struct {
        const char *name;
        void **slot;
    } table[] = {
        {"wasmtime_store_new", (void **)&store_new},
        {"wasmtime_store_context", (void **)&store_context},
        {"wasmtime_store_limiter", (void **)&store_limiter},
        {"wasmtime_store_delete", (void **)&store_delete},
        {"wasmtime_context_set_epoch_deadline", (void **)&set_deadline},
        {"wasmtime_context_set_wasi", (void **)&set_wasi},
        {"wasmtime_instance_pre_instantiate", (void **)&instantiate},
        {"wasmtime_instance_export_get", (void **)&export_get},
        {"wasmtime_func_call_unchecked", (void **)&call_unchecked},
        {"wasmtime_caller_context", (void **)&caller_context},
        {"wasmtime_caller_export_get", (void **)&caller_export_get},
        {"wasmtime_memory_data", (void **)&memory_data},
        {"wasmtime_memory_data_size", (void **)&memory_data_size},
        {"wasmtime_error_exit_status", (void **)&error_exit_status},
        {"wasmtime_error_delete", (void **)&error_delete},
        {"wasmtime_linker_define_func_unchecked", (void **)&define_unchecked},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (resolve(lib, table[i].name, table[i].slot) < 0)
            return NULL;
    extern_of = (size_t)of;
    kind_func = func;
    kind_memory = memory;
    ready = true;
    Py_RETURN_NONE;
}

static PyObject *py_names(PyObject *self, PyObject *unused) {
    PyObject *out = PyTuple_New(H_COUNT);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < H_COUNT; i++) {
        PyObject *name = PyUnicode_FromString(host_names[i]);
        if (name == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, name);
    }
    return out;
}

/* define(linker, name, functype) -> error address (0: defined) for `taubyte/sdk`.`name`. */
static PyObject *py_define(PyObject *self, PyObject *args) {
    unsigned long long linker, ty;
    const char *name;
    Py_ssize_t name_len;
    if (!PyArg_ParseTuple(args, "Ks#K", &linker, &name, &name_len, &ty))
        return NULL;
    if (!ready)
        return PyErr_Format(PyExc_RuntimeError, "nativecall.init() was not called");
    for (int i = 0; i < H_COUNT; i++) {
        if ((size_t)name_len == strlen(host_names[i]) && memcmp(name, host_names[i], (size_t)name_len) == 0) {
            void *error = define_unchecked((void *)(uintptr_t)linker, "taubyte/sdk", 11, name, (size_t)name_len,
                                           (const void *)(uintptr_t)ty, host_call, (void *)(intptr_t)i, NULL);
            return PyLong_FromVoidPtr(error);
        }
    }
    return PyErr_Format(PyExc_KeyError, "%s is not a native host call", name);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int set_int(PyObject *event, PyObject *name, long long value) {
    PyObject *number = PyLong_FromLongLong(value);
    if (number == NULL)
        return -1;
    int rc = PyObject_SetAttr(event, name, number);
    Py_DECREF(number);
    return rc;
}

static long long memory_size(void *ctx, const instance_t *instance) {
    extern_t item;
    if (export_get(ctx, instance, "memory", 6, &item) && item.bytes[0] == kind_memory)
        return (long long)memory_data_size(ctx, item.bytes + extern_of);
    return -1;
}

/* The host calls this request made in C, added to the inspector's count of the event. */
static int add_counts(request_t *req, PyObject *counts) {
    for (int i = 0; i < H_COUNT; i++) {
        if (req->counts[i] == 0)
            continue;
        PyObject *name = host_name_objects[i];
        PyObject *had = PyDict_GetItemWithError(counts, name);
        long long total = (had != NULL ? PyLong_AsLongLong(had) : 0) + req->counts[i];
        PyObject *value = PyLong_FromLongLong(total);
        int rc = value != NULL ? PyDict_SetItem(counts, name, value) : -1;
        Py_XDECREF(value);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Instantiate `pre` in `ctx`, run `init` (if any) and call `export` with event id 0: 0 when it returned,
 * else what failed (1 error, 2 trap, 3 missing export) with the error or trap in *failure / *trap.
 * times: began, instantiated, ended (ns). Runs without the GIL. */
static int guest_call(void *pre, void *ctx, instance_t *instance, PyObject *init, PyObject *export, size_t nslots,
                      void **failure, void **trap, bool *instantiated, int64_t times[3]) {
    int what = 0;
    extern_t item;
    val_raw_t slots[4];
    times[0] = now_ns();
    *failure = instantiate(pre, ctx, instance, trap);
    times[1] = now_ns();
    if (*failure != NULL || *trap != NULL) {
        what = *failure != NULL ? 1 : 2;
    } else {
        *instantiated = true;
        if (init != Py_None) {
            if (export_get(ctx, instance, PyBytes_AS_STRING(init), (size_t)PyBytes_GET_SIZE(init), &item) &&
                item.bytes[0] == kind_func) {
                *failure = call_unchecked(ctx, item.bytes + extern_of, slots, 0, trap);
                int status = -1;
                /* Go-style commands leave _start through proc_exit(0): that is a normal start-up. */
                if (*failure != NULL && error_exit_status(*failure, &status) && status == 0) {
                    error_delete(*failure);
                    *failure = NULL;
                }
                if (*failure != NULL || *trap != NULL)
                    what = *failure != NULL ? 1 : 2;
            } else {
                what = 3;
            }
        }
        if (what == 0) {
            if (export_get(ctx, instance, PyBytes_AS_STRING(export), (size_t)PyBytes_GET_SIZE(export), &item) &&
                item.bytes[0] == kind_func) {
                memset(slots, 0, sizeof slots); /* the event id: 0 */
                *failure = call_unchecked(ctx, item.bytes + extern_of, slots, nslots, trap);
                if (*failure != NULL || *trap != NULL)
                    what = *failure != NULL ? 1 : 2;
            } else {
                what = 3;
            }
        }
    }
    times[2] = now_ns();
    return what;
}

/* What run() and serve() take first: the planned part of a call (addresses, export names, results). */
typedef struct plan {
    void *engine, *pre;
    PyObject *init, *export; /* bytes; init may be None */
    size_t nslots;           /* value slots the export's call needs */
} plan_t;

/* The plan of a `what` call from its first five arguments; -1 with an exception set when it is wrong. */
static int plan_of(const char *what, PyObject *const *args, Py_ssize_t nargs, plan_t *plan) {
    if (nargs != 12) {
        PyErr_Format(PyExc_TypeError, "%s() takes 12 arguments (%zd given)", what, nargs);
        return -1;
    }
    if (!ready) {
        PyErr_Format(PyExc_RuntimeError, "nativecall.init() was not called");
        return -1;
    }
    plan->engine = PyLong_AsVoidPtr(args[0]);
    plan->pre = PyLong_AsVoidPtr(args[1]);
    plan->init = args[2];
    plan->export = args[3];
    long nresults = PyLong_AsLong(args[4]);
    if (PyErr_Occurred())
        return -1;
    if (!PyBytes_Check(plan->export) || (plan->init != Py_None && !PyBytes_Check(plan->init))) {
        PyErr_Format(PyExc_TypeError, "%s(): init and export are names as bytes", what);
        return -1;
    }
    plan->nslots = nresults > 1 ? (size_t)nresults : 1;
    if (plan->nslots > 4) {
        PyErr_Format(PyExc_ValueError, "export returns %ld values; at most 4 are supported", nresults);
        return -1;
    }
    return 0;
}

/* -- the request inspector's records, made in C (dream.substrate.front) ------------------------------ */

#include "recordring.c"

/* run(engine, pre, init, export, nresults, memory_limit, ticks, wasi, event, control, arm, disarm)
 * -> None, or (what, address, instantiated, used) when the call failed: what 1 = a wasmtime_error_t,
 * 2 = a wasm_trap_t (both now the caller's to free), 3 = the export is missing (address 0).
 * used: bytes of linear memory when it failed (-1: unknown). */
static PyObject *py_run(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    plan_t plan;
    if (plan_of("run", args, nargs, &plan) < 0)
        return NULL;
    void *engine = plan.engine, *pre = plan.pre;
    PyObject *init = plan.init, *export = plan.export;
    size_t nslots = plan.nslots;
    long long memory_limit = PyLong_AsLongLong(args[5]);
    unsigned long long ticks = PyLong_AsUnsignedLongLong(args[6]);
    void *wasi = args[7] == Py_None ? NULL : PyLong_AsVoidPtr(args[7]);
    PyObject *event = args[8], *control = args[9], *arm = args[10], *disarm = args[11];
    if (PyErr_Occurred())
        return NULL;

    request_t req;
    if (fill_request(&req, event) < 0)
        return NULL;
    PyObject *counts = PyObject_GetAttr(event, s_host_calls);
    if (counts == NULL)
        PyErr_Clear();
    else if (counts == Py_None || !PyDict_Check(counts))
        Py_CLEAR(counts);
    PyObject *measure_flag = PyObject_GetAttr(event, s_measure);
    bool measure = measure_flag != NULL && PyObject_IsTrue(measure_flag) == 1;
    Py_XDECREF(measure_flag);
    PyErr_Clear();

    PyObject *result = NULL;
    PyObject *key = NULL;
    int what = 0;
    void *failure = NULL;
    bool instantiated = false;
    long long used = -1;
    instance_t instance;
    memset(&instance, 0, sizeof instance);
    void *store = store_new(engine, NULL, NULL);
    void *ctx = store_context(store);
    request_t *outer = current;

    if (set_int(event, s_ctx, (long long)(uintptr_t)ctx) < 0) /* the Python host calls reach memory by it */
        goto done;
    store_limiter(store, memory_limit, -1, -1, -1, -1);
    set_deadline(ctx, ticks);
    if (control != Py_None) {
        key = PyObject_CallFunction(arm, "KO", (unsigned long long)(uintptr_t)store, control);
        if (key == NULL)
            goto done;
    }
    if (wasi != NULL) {
        failure = set_wasi(ctx, wasi);
        if (failure != NULL) {
            what = 1;
            goto failed;
        }
    }

    current = &req;
    int64_t times[3];
    void *trap = NULL;
    Py_BEGIN_ALLOW_THREADS;
    what = guest_call(pre, ctx, &instance, init, export, nslots, &failure, &trap, &instantiated, times);
    Py_END_ALLOW_THREADS;
    int64_t began = times[0], instantiated_at = times[1], ended = times[2];
    current = outer;
    if (trap != NULL)
        failure = trap;
    if (what != 0)
        goto failed;

    if (counts != NULL) { /* the request inspector's figures */
        long long size = req.has_memory ? (long long)memory_data_size(ctx, req.memory.bytes + extern_of)
                                        : memory_size(ctx, &instance);
        if (set_int(event, s_wasm_ns, ended - instantiated_at) < 0 ||
            set_int(event, s_instantiate_ns, instantiated_at - began) < 0 ||
            set_int(event, s_pages, (size > 0 ? size : 0) / 65536) < 0 || add_counts(&req, counts) < 0)
            goto done;
    }
    if (measure) {
        long long size = memory_size(ctx, &instance);
        PyObject *value = size >= 0 ? PyLong_FromLongLong(size) : Py_NewRef(Py_None);
        int rc = value != NULL ? PyObject_SetAttr(event, s_used_memory, value) : -1;
        Py_XDECREF(value);
        if (rc < 0)
            goto done;
    }
    result = Py_NewRef(Py_None);
    goto done;

failed:
    if (instantiated)
        used = memory_size(ctx, &instance);
    if (counts != NULL && add_counts(&req, counts) < 0)
        PyErr_Clear();
    result = Py_BuildValue("(iKOL)", what, (unsigned long long)(uintptr_t)(what == 3 ? NULL : failure),
                           instantiated ? Py_True : Py_False, used);

done:
    if (key != NULL) {
        PyObject *ignored = PyObject_CallOneArg(disarm, key);
        if (ignored == NULL && result != NULL)
            Py_CLEAR(result);
        Py_XDECREF(ignored);
        Py_DECREF(key);
    }
    store_delete(store);
    clear_request(&req);
    Py_XDECREF(counts);
    return result;
}

/* The host calls a `serve` call made, into `counts`: a dict (added to it), or the inspector's Ring (kept
 * for this thread's next Ring.served, which records them: no dict made per request). */
static int served_counts(request_t *req, PyObject *counts) {
    if (!Py_IS_TYPE(counts, &ring_type))
        return add_counts(req, counts);
    memcpy(last_served.counts, req->counts, sizeof last_served.counts);
    last_served.set = true;
    return 0;
}

/* serve(engine, pre, init, export, nresults, odd, memory_limit, ticks, method, host, path, counts)
 * -> (status, headers, body, instantiate_ns, wasm_ns, pages, problems), or run()'s failure tuple.
 * One HTTP request's call with no HttpEvent, for a module whose every import is one of the C host calls
 * here (no WASI, no Python host call): method, host and path are the request's bytes, the answer comes
 * back as the HTTP server writes it (status 200 when the guest set none, headers as (bytes, bytes)
 * pairs, the body as bytes). counts: a dict the host calls made are added to (the request inspector's),
 * the inspector's Ring (see served_counts), or None; pages is then the linear memory's size at the end (0
 * without counts). odd: see odd_header. */
static PyObject *py_serve(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    plan_t plan;
    if (plan_of("serve", args, nargs, &plan) < 0)
        return NULL;
    long long memory_limit = PyLong_AsLongLong(args[6]);
    unsigned long long ticks = PyLong_AsUnsignedLongLong(args[7]);
    PyObject *counts = args[11] == Py_None ? NULL : args[11];
    if (PyErr_Occurred())
        return NULL;
    for (int i = 0; i < 3; i++)
        if (!PyBytes_Check(args[8 + i]))
            return PyErr_Format(PyExc_TypeError, "serve(): method, host and path are bytes");
    if (counts != NULL && !PyDict_Check(counts) && !Py_IS_TYPE(counts, &ring_type))
        return PyErr_Format(PyExc_TypeError, "serve(): counts is a dict, the inspector's Ring or None");

    request_t req;
    memset(&req, 0, sizeof req);
    req.kind = 1; /* HTTP */
    req.odd = args[5];
    for (int i = 0; i < 3; i++)
        req.values[i] = Py_NewRef(args[8 + i]);
    req.body = PyByteArray_FromStringAndSize(NULL, 0);
    req.headers = PyList_New(0);
    if (req.body == NULL || req.headers == NULL) {
        clear_request(&req);
        return NULL;
    }

    PyObject *result = NULL;
    void *failure = NULL, *trap = NULL;
    bool instantiated = false;
    instance_t instance;
    memset(&instance, 0, sizeof instance);
    void *store = store_new(plan.engine, NULL, NULL);
    void *ctx = store_context(store);
    store_limiter(store, memory_limit, -1, -1, -1, -1);
    set_deadline(ctx, ticks);
    request_t *outer = current;
    current = &req;
    int64_t times[3];
    int what;
    Py_BEGIN_ALLOW_THREADS;
    what = guest_call(plan.pre, ctx, &instance, plan.init, plan.export, plan.nslots, &failure, &trap, &instantiated, times);
    Py_END_ALLOW_THREADS;
    current = outer;
    if (trap != NULL)
        failure = trap;
    if (what != 0) {
        long long used = instantiated ? memory_size(ctx, &instance) : -1;
        if (counts != NULL && served_counts(&req, counts) < 0)
            PyErr_Clear();
        result = Py_BuildValue("(iKOL)", what, (unsigned long long)(uintptr_t)(what == 3 ? NULL : failure),
                               instantiated ? Py_True : Py_False, used);
    } else {
        long long pages = 0;
        if (counts != NULL) { /* the request inspector's figures */
            long long size = req.has_memory ? (long long)memory_data_size(ctx, req.memory.bytes + extern_of)
                                            : memory_size(ctx, &instance);
            pages = (size > 0 ? size : 0) / 65536;
        }
        PyObject *body = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(req.body), PyByteArray_GET_SIZE(req.body));
        if (body != NULL && (counts == NULL || served_counts(&req, counts) == 0))
            result = Py_BuildValue("(iONLLLi)", req.status != 0 ? req.status : 200, req.headers, body,
                                   (long long)(times[1] - times[0]), (long long)(times[2] - times[1]), pages,
                                   req.problems);
        else
            Py_XDECREF(body);
    }
    store_delete(store);
    clear_request(&req);
    return result;
}

/* bound(event, fn): fn() with the C host calls answering for `event` (calls made another way). */
static PyObject *py_bound(PyObject *self, PyObject *args) {
    PyObject *event, *fn;
    if (!PyArg_ParseTuple(args, "OO", &event, &fn))
        return NULL;
    request_t req;
    if (fill_request(&req, event) < 0)
        return NULL;
    request_t *outer = current;
    current = &req;
    PyObject *out = PyObject_CallNoArgs(fn);
    current = outer;
    PyObject *counts = PyObject_GetAttr(event, s_host_calls);
    if (counts == NULL)
        PyErr_Clear();
    else if (PyDict_Check(counts) && out != NULL && add_counts(&req, counts) < 0)
        Py_CLEAR(out);
    Py_XDECREF(counts);
    clear_request(&req);
    return out;
}

static PyMethodDef methods[] = {
    {"init", py_init, METH_VARARGS, "init(library, extern size, union offset, instance size, raw value size, func kind, memory kind)"},
    {"names", py_names, METH_NOARGS, "The taubyte/sdk host calls implemented here."},
    {"define", py_define, METH_VARARGS, "define(linker, name, functype) -> error address (0: defined)"},
    {"run", (PyCFunction)(void (*)(void))py_run, METH_FASTCALL, "One request's call; see the C source."},
    {"serve", (PyCFunction)(void (*)(void))py_serve, METH_FASTCALL, "One HTTP request's call, no HttpEvent; see the C source."},
    {"bound", py_bound, METH_VARARGS, "bound(event, fn): fn() with the C host calls answering for event"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nativecall", NULL, -1, methods};

PyMODINIT_FUNC PyInit__nativecall(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&s_method, "method"},       {&s_host, "host"},         {&s_path, "path"},
        {&s_kind, "kind"},           {&s_resp_body, "resp_body"}, {&s_status, "status"},
        {&s_ctx, "ctx"},             {&s_host_calls, "host_calls"}, {&s_measure, "measure"},
        {&s_used_memory, "used_memory"}, {&s_wasm_ns, "wasm_ns"}, {&s_instantiate_ns, "instantiate_ns"},
        {&s_pages, "pages"},         {&s_memory, "memory"},     {&s_add_header, "add_header"},
        {&s_resp_headers, "resp_headers"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL)
            return NULL;
    }
    for (int i = 0; i < H_COUNT; i++) {
        host_name_objects[i] = PyUnicode_InternFromString(host_names[i]);
        if (host_name_objects[i] == NULL)
            return NULL;
    }
    if (record_names() < 0 || PyType_Ready(&ring_type) < 0)
        return NULL;
    PyObject *made = PyModule_Create(&module);
    if (made != NULL && PyModule_AddObjectRef(made, "Ring", (PyObject *)&ring_type) < 0)
        Py_CLEAR(made);
    return made;
}
