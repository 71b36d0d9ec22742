/* The gateway's usual request relayed in C: the client's head parsed, the route looked up, the request
 * written to an idle kept-alive upstream connection, the answer parsed and written back, all without the
 * Python layer (`dream.gateway.relay` sets it up; `dream.gateway.service` holds every rule).
 *
 * `Relay.take(connection, data)`: the HTTP server's `Connection` (`dream.http.server`) gives it each read
 * first. When the read is one whole request head and nothing after it, on a connection between requests
 * with the server's fast path on, and the request is the usual one, it sends it upstream, makes the
 * connection wait as for a fast handler's `Later` and answers the `Pending`; else None, having changed
 * nothing: the server goes on with its Python path. Unusual: a head not of the usual shape
 * (`headparse.c`'s, minus HEAD), a route not cached or expired, no live substrate, no idle upstream
 * connection of the relay's own (it then asks the service for one: `want(port)`).
 *
 * `Upstream` is the asyncio protocol of the relay's upstream connections (opened by the service). Its
 * `data_received` takes the usual answer, one whole HTTP/1.1 response with one Content-Length and no
 * other framing field in one read, and writes the client's answer as the server's `respond` would (the
 * same head, held until the loop pass ends as the server holds answers: `_flush`), makes the inspector's
 * record (the same tuple as the Python path's) and frees the connection for the next request. Anything
 * else goes to the service's `fallback(kind, pending, upstream, arg)`, which carries on with the Python
 * path's objects and code: "data" (an answer not of the usual shape: the connection is handed to the
 * Python pool with these bytes), "answer" (a usual answer for a connection in an unusual state),
 * "lost" (closed before a whole answer; `arg` the exception or None) and "error" (`arg` the error, from
 * the pool's timeout sweep).
 */
#include "headparse.c"

#include <structmember.h>

#include <time.h>

static PyObject *s_socket, *s_in_head, *s_max_head, *s_fast, *s_loop, *s_call_soon, *s_flush, *s_join, *s_later, *s_busy, *s_held, *s_server, *s_waiting, *s_refusal, *s_ended, *s_head_size,
    *s_last_active, *s_transport, *s_closing, *s_should_exit, *s_next, *s_write,
    *s_is_closing, *s_abort, *s_close, *s_seq, *s_id, *s_port, *s_score, *s_header,
    *s_url_room, *s_max_header_line, *s_max_headers, *s_sweeper, *s_watch, *s_busy_set, *k_data,
    *k_answer, *k_lost, *k_error, *empty_bytes, *s_receive, *s_size;

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* `n` (≥ 0) in decimal at `out`; the number of digits. printf's format parsing costs more than the
 * request's whole header copy. */
static int put_decimal(char *out, long long n) {
    char digits[24];
    int len = 0;
    do {
        digits[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (int i = 0; i < len; i++)
        out[i] = digits[len - 1 - i];
    return len;
}

/* time.perf_counter_ns(): the clock of the inspector's records. */
static long long clock_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Attributes of the server's objects (its `Connection`, the service's `Target`, the inspector's ring) are
 * __slots__: each is read and written at its offset once the class's member descriptor was looked at,
 * rather than through the attribute lookup every time (a fifth of what the relay spent on a request). An
 * object of another class, or a slot not set, goes through the usual lookup. */
typedef struct {
    PyTypeObject *type;
    Py_ssize_t offset;
} SlotCache;

/* Whether `name` is a slot of `type` (its offset then in the cache); remembered either way (offset -1:
 * not a slot, such as an attribute in an instance's __dict__). */
static bool slot_find(SlotCache *cache, PyTypeObject *type, PyObject *name) {
    if (cache->type == type)
        return cache->offset >= 0;
    PyObject *descr = _PyType_Lookup(type, name); /* borrowed */
    Py_XSETREF(cache->type, (PyTypeObject *)Py_NewRef(type)); /* kept: the offset is the class's */
    cache->offset = -1;
    if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type))
        return false;
    PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX || (member->flags & READONLY))
        return false;
    cache->offset = member->offset;
    return true;
}

static PyObject *slot_get(SlotCache *cache, PyObject *obj, PyObject *name) {
    if (slot_find(cache, Py_TYPE(obj), name)) {
        PyObject *value = *(PyObject **)((char *)obj + cache->offset);
        if (value != NULL)
            return Py_NewRef(value);
    }
    return PyObject_GetAttr(obj, name);
}

static int slot_set(SlotCache *cache, PyObject *obj, PyObject *name, PyObject *value) {
    if (slot_find(cache, Py_TYPE(obj), name)) {
        PyObject **at = (PyObject **)((char *)obj + cache->offset);
        PyObject *old = *at;
        *at = Py_NewRef(value);
        Py_XDECREF(old);
        return 0;
    }
    return PyObject_SetAttr(obj, name, value);
}

static SlotCache c_fast, c_should_exit, c_sweeper, c_socket, c_ended, c_in_head, c_head_size, c_busy, c_max_head, c_waiting, c_server, c_transport, c_url_room, c_max_header_line, c_max_headers, c_later, c_last_active, c_closing, c_held, c_refusal, c_id, c_score, c_port, c_header, c_seq;

typedef struct RelayObject RelayObject;

/* One inspector record of a relayed request, kept in the relay's own ring (`kept`): numbers as C numbers,
 * texts as the objects the request already had (the route key's, shared while requests repeat it), so
 * recording makes no Python object. */
typedef struct {
    long long seq, time, total_ns;
    Py_ssize_t bytes_out;
    int status;
    PyObject *method, *host, *path, *peer;
} Kept;
typedef struct PendingObject PendingObject;

typedef struct {
    PyObject_HEAD
    RelayObject *relay;
    PyObject *transport;
    PyObject *port;
    PyObject *where; /* how messages name the upstream: host:port, or a Unix socket's path */
    PendingObject *pending;
    char closed, received, progress;
    int quiet;
    double sent_at;
} UpstreamObject;

struct PendingObject {
    PyObject_HEAD
    RelayObject *relay;
    PyObject *connection, *head, *target, *targets, *target_id, *peer, *method, *host, *path;
    UpstreamObject *upstream;
    long long seq, began;
    char finished;
};

struct RelayObject {
    PyObject_HEAD
    PyObject *routes, *inflight, *down, *ring, *via_prefix, *status_lines, *idle, *fallback,
        *want, *pool, *busy;
    PyObject *unflushed, *loop, *flush; /* connections holding answers till the loop pass ends, as the
                                           server's `hold`; the loop and this relay's `_flush` */
    /* The last route key and its parts, used again while requests repeat it (most do, under load): no
     * bytes, str and tuple made per request for the route cache's look-up. */
    PyObject *memo_host, *memo_path, *memo_key;
    int memo_method;
    Kept *kept; /* the ring's size of records (NULL: the inspector is off), written round from kept_next */
    Py_ssize_t kept_size, kept_next;
    double down_for;
    Py_ssize_t max_idle;
    long long taken; /* requests relayed here so far, for tests and diagnostics */
    char closed;
};

static PyTypeObject RelayType, UpstreamType, PendingType, ReaderType;

/* -- shared helpers ---------------------------------------------------------------------------------- */

static int add_inflight(RelayObject *relay, PyObject *id, long delta) {
    PyObject *now = PyDict_GetItemWithError(relay->inflight, id);
    if (now == NULL && PyErr_Occurred())
        return -1;
    long count = (now != NULL ? PyLong_AsLong(now) : 0) + delta;
    PyObject *value = PyLong_FromLong(count);
    if (value == NULL)
        return -1;
    int rc = PyDict_SetItem(relay->inflight, id, value);
    Py_DECREF(value);
    return rc;
}

/* The inspector's record, as `Service._record` makes it, into the relay's own ring (read with the ring's
 * Python records by `RequestRing.tuples`, through `kept_after`). */
static int record(PendingObject *p, int status, Py_ssize_t size, PyObject *peer) {
    RelayObject *relay = p->relay;
    if (relay->kept == NULL)
        return 0;
    long long now = clock_ns();
    Kept *k = &relay->kept[relay->kept_next];
    relay->kept_next = (relay->kept_next + 1) % relay->kept_size;
    k->seq = p->seq;
    k->time = now;
    k->total_ns = now - p->began;
    k->bytes_out = size;
    k->status = status;
    Py_XSETREF(k->method, Py_NewRef(p->method));
    Py_XSETREF(k->host, Py_NewRef(p->host));
    Py_XSETREF(k->path, Py_NewRef(p->path));
    Py_XSETREF(k->peer, Py_NewRef(peer));
    return 0;
}

static void kept_clear(RelayObject *self) {
    for (Py_ssize_t i = 0; self->kept != NULL && i < self->kept_size; i++) {
        Py_CLEAR(self->kept[i].method);
        Py_CLEAR(self->kept[i].host);
        Py_CLEAR(self->kept[i].path);
        Py_CLEAR(self->kept[i].peer);
    }
    PyMem_Free(self->kept);
    self->kept = NULL;
    self->kept_size = self->kept_next = 0;
}

/* kept_after(seq) -> the records kept here numbered above `seq`, as the ring's tuples, in the order they
 * were made (oldest first). */
static PyObject *relay_kept_after(RelayObject *self, PyObject *arg) {
    long long after = PyLong_AsLongLong(arg);
    if (after == -1 && PyErr_Occurred())
        return NULL;
    PyObject *found = PyList_New(0);
    for (Py_ssize_t n = 0; found != NULL && self->kept != NULL && n < self->kept_size; n++) {
        Kept *k = &self->kept[(self->kept_next + n) % self->kept_size];
        if (k->method == NULL || k->seq <= after)
            continue;
        PyObject *rec = Py_BuildValue("(LLOOOiLnO)", k->seq, k->time, k->method, k->host, k->path, k->status,
                                      k->total_ns, k->bytes_out, k->peer);
        if (rec == NULL || PyList_Append(found, rec) < 0)
            Py_CLEAR(found);
        Py_XDECREF(rec);
    }
    return found;
}

static void pending_clear(PendingObject *p) {
    Py_CLEAR(p->connection);
    Py_CLEAR(p->upstream);
}

static void upstream_abort(UpstreamObject *u) {
    u->closed = 1;
    if (u->transport != NULL) {
        PyObject *done = PyObject_CallMethodNoArgs(u->transport, s_abort);
        if (done == NULL)
            PyErr_WriteUnraisable((PyObject *)u);
        Py_XDECREF(done);
    }
}

static void unwatch(UpstreamObject *u) {
    if (PySet_Discard(u->relay->busy, (PyObject *)u) < 0)
        PyErr_Clear();
}

/* An idle connection leaves the idle list (closed by the upstream, or out of step). */
static void forget(UpstreamObject *u) {
    PyObject *idle = PyDict_GetItem(u->relay->idle, u->port);
    if (idle == NULL)
        return;
    for (Py_ssize_t i = PyList_GET_SIZE(idle) - 1; i >= 0; i--) {
        if (PyList_GET_ITEM(idle, i) == (PyObject *)u) {
            PySequence_DelItem(idle, i);
            return;
        }
    }
}

/* The service's Python path takes the request on from here. */
static void fall_back(PyObject *kind, PendingObject *p, UpstreamObject *u, PyObject *arg) {
    p->finished = 1;
    if (p->relay->fallback == NULL) { /* the service is gone */
        pending_clear(p);
        return;
    }
    PyObject *done = PyObject_CallFunctionObjArgs(p->relay->fallback, kind, (PyObject *)p, (PyObject *)u,
                                                  arg != NULL ? arg : Py_None, NULL);
    if (done == NULL)
        PyErr_WriteUnraisable(p->relay->fallback);
    Py_XDECREF(done);
    pending_clear(p);
}

/* -- Relay --------------------------------------------------------------------------------------------- */

static int relay_init(RelayObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"routes", "inflight", "down", "ring", "via_prefix", "status_lines", "fallback",
                             "want", "pool", "down_for", "max_idle", NULL};
    PyObject *routes, *inflight, *down, *ring, *via, *lines, *fallback, *want, *pool;
    double down_for;
    Py_ssize_t max_idle;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O!OSO!OOOdn", kwlist, &PyDict_Type, &routes,
                                     &PyDict_Type, &inflight, &PyDict_Type, &down, &ring, &via, &PyDict_Type,
                                     &lines, &fallback, &want, &pool, &down_for, &max_idle))
        return -1;
    Py_ssize_t kept_size = 0;
    if (ring != Py_None) {
        PyObject *size = PyObject_GetAttr(ring, s_size);
        kept_size = size != NULL ? PyLong_AsSsize_t(size) : -1;
        Py_XDECREF(size);
        if (kept_size < 1) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "Relay: the ring's size is a whole number of at least 1");
            return -1;
        }
    }
    PyObject *busy = PyObject_GetAttr(pool, s_busy_set);
    if (busy == NULL || !PySet_Check(busy)) {
        Py_XDECREF(busy);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "Relay: the pool's _busy is a set");
        return -1;
    }
    PyObject *idle = PyDict_New();
    PyObject *unflushed = PyList_New(0);
    if (idle == NULL || unflushed == NULL) {
        Py_XDECREF(idle);
        Py_XDECREF(unflushed);
        Py_DECREF(busy);
        return -1;
    }
    Py_XSETREF(self->unflushed, unflushed);
    Py_XSETREF(self->routes, Py_NewRef(routes));
    Py_XSETREF(self->inflight, Py_NewRef(inflight));
    Py_XSETREF(self->down, Py_NewRef(down));
    Py_XSETREF(self->ring, Py_NewRef(ring));
    Py_XSETREF(self->via_prefix, Py_NewRef(via));
    Py_XSETREF(self->status_lines, Py_NewRef(lines));
    Py_XSETREF(self->idle, idle);
    Py_XSETREF(self->fallback, Py_NewRef(fallback));
    Py_XSETREF(self->want, Py_NewRef(want));
    Py_XSETREF(self->pool, Py_NewRef(pool));
    Py_XSETREF(self->busy, busy);
    self->down_for = down_for;
    self->max_idle = max_idle;
    kept_clear(self);
    if (kept_size > 0) {
        self->kept = PyMem_Calloc((size_t)kept_size, sizeof(Kept));
        if (self->kept == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->kept_size = kept_size;
    }
    return 0;
}

/* The relay holds its service's bound methods, and the service holds the relay: a cycle the collector
 * ends once the service is gone (tests make and drop many). */
static int relay_traverse(RelayObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->routes);
    Py_VISIT(self->inflight);
    Py_VISIT(self->down);
    Py_VISIT(self->ring);
    Py_VISIT(self->via_prefix);
    Py_VISIT(self->status_lines);
    Py_VISIT(self->idle);
    Py_VISIT(self->fallback);
    Py_VISIT(self->want);
    Py_VISIT(self->pool);
    Py_VISIT(self->busy);
    Py_VISIT(self->unflushed);
    Py_VISIT(self->loop);
    Py_VISIT(self->flush);
    return 0;
}

static int relay_clear(RelayObject *self) {
    Py_CLEAR(self->routes);
    Py_CLEAR(self->inflight);
    Py_CLEAR(self->down);
    Py_CLEAR(self->ring);
    Py_CLEAR(self->via_prefix);
    Py_CLEAR(self->status_lines);
    Py_CLEAR(self->idle);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->want);
    Py_CLEAR(self->pool);
    Py_CLEAR(self->busy);
    Py_CLEAR(self->unflushed);
    Py_CLEAR(self->loop);
    Py_CLEAR(self->flush);
    Py_CLEAR(self->memo_host);
    Py_CLEAR(self->memo_path);
    Py_CLEAR(self->memo_key);
    kept_clear(self);
    self->closed = 1;
    return 0;
}

static void relay_dealloc(RelayObject *self) {
    PyObject_GC_UnTrack(self);
    relay_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define MAX_FIELDS 128 /* more header fields in a head or an answer: not the usual one */

/* The fields a request drops on its way upstream that the usual head may hold (`REQUEST_DROP`). */
static bool dropped_on_the_way(const char *low, Py_ssize_t n) {
    return is_named(low, n, "keep-alive") || is_named(low, n, "te") || is_named(low, n, "proxy-connection") ||
           is_named(low, n, "x-dream-gateway");
}

enum { AS_LONG, AS_TRUTH, AS_NONE };

/* An attribute as a whole number, as a truth value, or whether it is None; -1 on error. */
static long attr_as(SlotCache *cache, PyObject *obj, PyObject *name, int as) {
    PyObject *value = slot_get(cache, obj, name);
    if (value == NULL)
        return -1;
    long n = as == AS_LONG ? PyLong_AsLong(value) : as == AS_NONE ? value == Py_None : PyObject_IsTrue(value);
    Py_DECREF(value);
    return n;
}

#define attr_long(cache, obj, name) attr_as(cache, obj, name, AS_LONG)
#define is_true_attr(cache, obj, name) ((int)attr_as(cache, obj, name, AS_TRUTH))
#define is_none_attr(cache, obj, name) ((int)attr_as(cache, obj, name, AS_NONE))

/* Whether the client connection reads the next head with nothing in hand, as `Connection.data_received`
 * would parse a whole head of `size` bytes at once: not a websocket, not ended, between requests (no head
 * begun, none running or waiting), within max_head, the server's fast path on (off while a chaos fault
 * is set), the transport open. -1 on error. */
static int usual_state(PyObject *connection, Py_ssize_t size) {
    int ok = is_none_attr(&c_socket, connection, s_socket);
    if (ok == 1)
        ok = !is_true_attr(&c_ended, connection, s_ended);
    if (ok == 1)
        ok = is_true_attr(&c_in_head, connection, s_in_head);
    if (ok == 1)
        ok = !is_true_attr(&c_head_size, connection, s_head_size);
    if (ok == 1)
        ok = !is_true_attr(&c_busy, connection, s_busy);
    if (ok == 1) {
        long max_head = attr_long(&c_max_head, connection, s_max_head);
        ok = max_head < 0 ? -1 : size <= max_head;
    }
    if (ok == 1) {
        PyObject *waiting = slot_get(&c_waiting, connection, s_waiting);
        Py_ssize_t queued = waiting != NULL ? PyObject_Size(waiting) : -1;
        Py_XDECREF(waiting);
        ok = queued < 0 ? -1 : queued == 0;
    }
    if (ok == 1) {
        PyObject *server = slot_get(&c_server, connection, s_server);
        ok = server != NULL ? !is_none_attr(&c_fast, server, s_fast) : -1;
        Py_XDECREF(server);
    }
    if (ok == 1) {
        PyObject *transport = slot_get(&c_transport, connection, s_transport);
        PyObject *closing = transport != NULL ? PyObject_CallMethodNoArgs(transport, s_is_closing) : NULL;
        ok = closing != NULL ? !PyObject_IsTrue(closing) : -1;
        Py_XDECREF(closing);
        Py_XDECREF(transport);
    }
    return PyErr_Occurred() ? -1 : ok;
}

/* The best live target of a route, as `Service._pick` chooses it (borrowed), or NULL (with or without an
 * error set). */
static PyObject *pick(RelayObject *self, PyObject *targets) {
    double now = PyDict_GET_SIZE(self->down) ? monotonic() : 0.0;
    PyObject *best = NULL, *best_score = NULL;
    long best_load = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(targets); i++) {
        PyObject *target = PyList_GET_ITEM(targets, i);
        PyObject *id = slot_get(&c_id, target, s_id);
        if (id == NULL)
            goto failed;
        if (now != 0.0) {
            PyObject *since = PyDict_GetItemWithError(self->down, id);
            if (since == NULL && PyErr_Occurred()) {
                Py_DECREF(id);
                goto failed;
            }
            if (since != NULL && now - PyFloat_AsDouble(since) < self->down_for) {
                Py_DECREF(id);
                continue;
            }
        }
        PyObject *count = PyDict_GetItemWithError(self->inflight, id);
        Py_DECREF(id);
        if (count == NULL && PyErr_Occurred())
            goto failed;
        long load = count != NULL ? PyLong_AsLong(count) : 0;
        PyObject *score = slot_get(&c_score, target, s_score);
        if (score == NULL)
            goto failed;
        if (best == NULL) {
            best = target;
            best_score = score;
            best_load = load;
            continue;
        }
        int same = PyObject_RichCompareBool(score, best_score, Py_EQ);
        Py_DECREF(score);
        if (same < 0)
            goto failed;
        if (!same)
            break; /* sorted by score: below the best live group, none can win */
        if (load < best_load) {
            best = target;
            best_load = load;
        }
    }
    Py_XDECREF(best_score);
    return best;
failed:
    Py_XDECREF(best_score);
    return NULL;
}

static PyObject *relay_take(RelayObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[1]))
        return PyErr_Format(PyExc_TypeError, "take(connection, head bytes)");
    if (self->closed)
        Py_RETURN_NONE;
    PyObject *connection = args[0], *data = args[1];
    const char *start = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    if (size < 4 || memcmp(start + size - 4, "\r\n\r\n", 4) != 0)
        Py_RETURN_NONE;
    int state = usual_state(connection, size); /* first: it bounds the size (max_head) */
    if (state <= 0)
        return state < 0 ? NULL : Py_NewRef(Py_None);
    const char *last = start + size - 4;
    for (const char *p = memchr(start, '\r', (size_t)(last - start)); p != NULL && p < last;
         p = memchr(p + 1, '\r', (size_t)(last - p - 1)))
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
            Py_RETURN_NONE; /* a blank line before the last: more than one head, or a body */
    const char *end = start + size - 2; /* the blank line's CRLF */
    long url_room = attr_long(&c_url_room, connection, s_url_room);
    long max_header_line = attr_long(&c_max_header_line, connection, s_max_header_line);
    long max_headers = attr_long(&c_max_headers, connection, s_max_headers);
    if (PyErr_Occurred())
        return NULL;

    /* The request line, as `headparse.c` takes it (within max_request_line); HEAD is left to Python. */
    int method;
    const char *target;
    Py_ssize_t target_len;
    const char *at = request_line(start, size, end, url_room + 16, &method, &target, &target_len);
    if (at == NULL || method == 1)
        Py_RETURN_NONE;
    const char *space = target - 1;

    /* The header fields, within the server's limits (over one: refused by the Python path). */
    Field fields[MAX_FIELDS];
    int count = 0, seen = 0;
    const char *host = NULL;
    Py_ssize_t host_len = 0;
    char low[NAME_ROOM];
    while (at < end) {
        Field f;
        at = next_field(at, end + 2, &f, low);
        if (at == NULL || ++seen > max_headers || count >= MAX_FIELDS || f.name_len + f.value_len > max_header_line)
            Py_RETURN_NONE;
        if (framing(low, f.name_len))
            Py_RETURN_NONE;
        if (is_named(low, f.name_len, "host")) {
            if (host != NULL)
                Py_RETURN_NONE;
            host = f.value;
            host_len = f.value_len;
        }
        if (!dropped_on_the_way(low, f.name_len))
            fields[count++] = f;
    }

    /* The route, cached by the Python path per (Host, path, method). */
    const char *query = memchr(target, '?', (size_t)target_len);
    Py_ssize_t path_len = query != NULL ? query - target : target_len;
    PyObject *host_obj, *path_obj, *key;
    if (self->memo_key != NULL && self->memo_method == method && PyBytes_GET_SIZE(self->memo_host) == host_len &&
        memcmp(PyBytes_AS_STRING(self->memo_host), host != NULL ? host : "", (size_t)host_len) == 0 &&
        PyUnicode_GET_LENGTH(self->memo_path) == path_len &&
        memcmp(PyUnicode_1BYTE_DATA(self->memo_path), target, (size_t)path_len) == 0) {
        host_obj = Py_NewRef(self->memo_host);
        path_obj = Py_NewRef(self->memo_path);
        key = Py_NewRef(self->memo_key);
    } else {
        host_obj = PyBytes_FromStringAndSize(host != NULL ? host : "", host_len);
        path_obj = PyUnicode_DecodeASCII(target, path_len, "strict");
        key = host_obj && path_obj ? PyTuple_Pack(3, host_obj, path_obj, methods[method]) : NULL;
        if (key != NULL) { /* an ASCII str: its bytes compare with the next target's */
            Py_XSETREF(self->memo_host, Py_NewRef(host_obj));
            Py_XSETREF(self->memo_path, Py_NewRef(path_obj));
            Py_XSETREF(self->memo_key, Py_NewRef(key));
            self->memo_method = method;
        }
    }
    PyObject *result = NULL;
    if (key == NULL)
        goto done;
    PyObject *route = PyDict_GetItemWithError(self->routes, key);
    if (route == NULL || !PyTuple_Check(route) || PyTuple_GET_SIZE(route) != 2) {
        if (!PyErr_Occurred())
            result = Py_NewRef(Py_None);
        goto done;
    }
    /* One clock read serves the route's expiry, the record's start, sent_at and last_active. */
    long long taken_ns = clock_ns(); /* CLOCK_MONOTONIC, as `monotonic()` in seconds */
    double now_s = (double)taken_ns * 1e-9;
    if (now_s >= PyFloat_AsDouble(PyTuple_GET_ITEM(route, 0)) || PyErr_Occurred() ||
        !PyList_Check(PyTuple_GET_ITEM(route, 1))) {
        if (!PyErr_Occurred())
            result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *targets = PyTuple_GET_ITEM(route, 1);
    PyObject *chosen = pick(self, targets);
    if (chosen == NULL) {
        if (!PyErr_Occurred())
            result = Py_NewRef(Py_None);
        goto done;
    }
    Py_INCREF(chosen);
    Py_INCREF(targets);
    PyObject *port = slot_get(&c_port, chosen, s_port);
    PyObject *id = port ? slot_get(&c_id, chosen, s_id) : NULL;
    PyObject *peer = id ? slot_get(&c_header, chosen, s_header) : NULL;
    PyObject *seq_obj = NULL, *request = NULL;
    UpstreamObject *upstream = NULL;
    if (peer == NULL || !PyBytes_Check(peer))
        goto chosen_done;

    /* The request as it goes upstream (`_serialize` of `_forwarded`'s headers and the `via` header). */
    long long seq = 0;
    if (self->ring != Py_None) {
        seq_obj = slot_get(&c_seq, self->ring, s_seq);
        if (seq_obj == NULL)
            goto chosen_done;
        seq = PyLong_AsLongLong(seq_obj) + 1;
        Py_CLEAR(seq_obj);
    }
    char via[32];
    int via_len = self->ring != Py_None ? put_decimal(via, seq) : 0;
    Py_ssize_t want_size = (space - start) + 1 + (query != NULL && query + 1 == target + target_len ? path_len : target_len) + 11;
    for (int i = 0; i < count; i++)
        want_size += fields[i].name_len + 2 + fields[i].value_len + 2;
    if (host == NULL)
        want_size += sizeof "host: 127.0.0.1\r\n" - 1;
    if (via_len)
        want_size += sizeof "x-dream-gateway: \r\n" - 1 + PyBytes_GET_SIZE(self->via_prefix) + via_len;
    bool body_method = method == 2 || method == 3 || method == 4; /* POST PUT PATCH: a length, even 0 */
    if (body_method)
        want_size += sizeof "content-length: 0\r\n" - 1;
    want_size += 2;
    request = PyBytes_FromStringAndSize(NULL, want_size);
    if (request == NULL)
        goto chosen_done;
    char *out = PyBytes_AS_STRING(request);
#define PUT(p, n)                                                                                          \
    do {                                                                                                   \
        memcpy(out, (p), (size_t)(n));                                                                     \
        out += (n);                                                                                        \
    } while (0)
    PUT(start, (space - start) + 1);
    /* An empty query goes as none, as the Python path sends it. */
    PUT(target, query != NULL && query + 1 == target + target_len ? path_len : target_len);
    PUT(" HTTP/1.1\r\n", 11);
    for (int i = 0; i < count; i++) {
        for (Py_ssize_t j = 0; j < fields[i].name_len; j++) {
            char c = fields[i].name[j];
            *out++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        PUT(": ", 2);
        PUT(fields[i].value, fields[i].value_len);
        PUT("\r\n", 2);
    }
    if (host == NULL)
        PUT("host: 127.0.0.1\r\n", sizeof "host: 127.0.0.1\r\n" - 1); /* HTTP/1.1 needs one upstream */
    if (via_len) {
        PUT("x-dream-gateway: ", sizeof "x-dream-gateway: " - 1);
        PUT(PyBytes_AS_STRING(self->via_prefix), PyBytes_GET_SIZE(self->via_prefix));
        PUT(via, via_len);
        PUT("\r\n", 2);
    }
    if (body_method)
        PUT("content-length: 0\r\n", sizeof "content-length: 0\r\n" - 1);
    PUT("\r\n", 2);
#undef PUT

    /* An idle connection of the relay's own to that port, newest first; none: the Python path serves
     * this request and the service opens one for the next. */
    PyObject *idle = PyDict_GetItemWithError(self->idle, port);
    while (idle != NULL && PyList_GET_SIZE(idle) > 0) {
        Py_ssize_t last = PyList_GET_SIZE(idle) - 1;
        UpstreamObject *u = (UpstreamObject *)Py_NewRef(PyList_GET_ITEM(idle, last));
        if (PyList_SetSlice(idle, last, last + 1, NULL) < 0) {
            Py_DECREF(u);
            goto chosen_done;
        }
        if (u->closed || u->pending != NULL || u->transport == NULL) {
            Py_DECREF(u);
            continue;
        }
        PyObject *done = PyObject_CallMethodOneArg(u->transport, s_write, request);
        if (done == NULL) {
            Py_DECREF(u);
            goto chosen_done;
        }
        Py_DECREF(done);
        PyObject *closing = PyObject_CallMethodNoArgs(u->transport, s_is_closing);
        int gone = closing != NULL ? PyObject_IsTrue(closing) : -1;
        Py_XDECREF(closing);
        if (gone < 0) {
            Py_DECREF(u);
            goto chosen_done;
        }
        if (gone) { /* the peer was gone: the kernel took none of it */
            u->closed = 1;
            Py_DECREF(u);
            continue;
        }
        upstream = u;
        break;
    }
    if (PyErr_Occurred())
        goto chosen_done;
    if (upstream == NULL) {
        PyObject *done = PyObject_CallOneArg(self->want, port);
        Py_XDECREF(done);
        if (done != NULL)
            result = Py_NewRef(Py_None);
        goto chosen_done;
    }

    PendingObject *p = PyObject_New(PendingObject, &PendingType);
    if (p == NULL) {
        upstream_abort(upstream);
        goto chosen_done;
    }
    p->relay = (RelayObject *)Py_NewRef(self);
    p->connection = Py_NewRef(connection);
    p->head = Py_NewRef(data);
    p->target = Py_NewRef(chosen);
    p->targets = Py_NewRef(targets);
    p->target_id = Py_NewRef(id);
    p->peer = Py_NewRef(peer);
    p->method = Py_NewRef(methods[method]);
    p->host = Py_NewRef(host_obj);
    p->path = Py_NewRef(path_obj);
    p->upstream = (UpstreamObject *)Py_NewRef(upstream);
    p->seq = seq;
    p->began = taken_ns;
    p->finished = 0;
    upstream->pending = (PendingObject *)Py_NewRef(p);
    upstream->received = 0;
    upstream->progress = 1;
    upstream->quiet = 0;
    upstream->sent_at = now_s;
    result = (PyObject *)p;
    self->taken++;
    /* The connection waits for this answer as for a fast handler's `Later` (`Connection._dispatch`). */
    PyObject *now = PyFloat_FromDouble(now_s);
    int set = now != NULL && slot_set(&c_busy, connection, s_busy, Py_True) == 0 &&
              slot_set(&c_later, connection, s_later, result) == 0 &&
              slot_set(&c_last_active, connection, s_last_active, now) == 0;
    Py_XDECREF(now);
    if (!set)
        goto chosen_done;
    if (self->ring != Py_None) {
        seq_obj = PyLong_FromLongLong(seq);
        if (seq_obj == NULL || slot_set(&c_seq, self->ring, s_seq, seq_obj) < 0)
            goto chosen_done;
    }
    if (add_inflight(self, id, 1) < 0 || PySet_Add(self->busy, (PyObject *)upstream) < 0)
        goto chosen_done;
    /* The pool's one timer looks at every connection waiting for an answer (`read_timeout`). */
    PyObject *sweeper = slot_get(&c_sweeper, self->pool, s_sweeper);
    if (sweeper == NULL)
        goto chosen_done;
    if (sweeper == Py_None) {
        PyObject *done = PyObject_CallMethodOneArg(self->pool, s_watch, (PyObject *)upstream);
        Py_XDECREF(done);
    }
    Py_DECREF(sweeper);

chosen_done:
    if (PyErr_Occurred())
        Py_CLEAR(result);
    Py_XDECREF(seq_obj);
    Py_XDECREF(request);
    Py_XDECREF((PyObject *)upstream);
    Py_XDECREF(peer);
    Py_XDECREF(id);
    Py_XDECREF(port);
    Py_DECREF(targets);
    Py_DECREF(chosen);
done:
    Py_XDECREF(key);
    Py_XDECREF(host_obj);
    Py_XDECREF(path_obj);
    return result;
}

static PyObject *relay_upstream(RelayObject *self, PyObject *args) {
    PyObject *port, *where = NULL;
    if (!PyArg_ParseTuple(args, "O|U", &port, &where))
        return NULL;
    UpstreamObject *u = PyObject_New(UpstreamObject, &UpstreamType);
    if (u == NULL)
        return NULL;
    u->relay = (RelayObject *)Py_NewRef(self);
    u->transport = NULL;
    u->port = Py_NewRef(port);
    u->where = Py_XNewRef(where);
    u->pending = NULL;
    u->closed = u->received = u->progress = 0;
    u->quiet = 0;
    u->sent_at = 0.0;
    return (PyObject *)u;
}

/* Close the idle connections; those in use close once answered. */
static PyObject *relay_close(RelayObject *self, PyObject *unused) {
    self->closed = 1;
    PyObject *key, *idle;
    Py_ssize_t pos = 0;
    while (PyDict_Next(self->idle, &pos, &key, &idle)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(idle); i++) {
            UpstreamObject *u = (UpstreamObject *)PyList_GET_ITEM(idle, i);
            u->closed = 1;
            if (u->transport != NULL) {
                PyObject *done = PyObject_CallMethodNoArgs(u->transport, s_close);
                if (done == NULL)
                    return NULL;
                Py_DECREF(done);
            }
        }
    }
    PyDict_Clear(self->idle);
    Py_RETURN_NONE;
}

static PyObject *relay_idle(RelayObject *self, PyObject *port) {
    PyObject *idle = PyDict_GetItemWithError(self->idle, port);
    if (idle == NULL && PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(idle != NULL ? PyList_GET_SIZE(idle) : 0);
}

static PyObject *relay_flush(RelayObject *self, PyObject *unused);
static PyObject *relay_reader(RelayObject *self, PyObject *connection);

static PyMethodDef relay_methods[] = {
    {"take", (PyCFunction)(void (*)(void))relay_take, METH_FASTCALL,
     "take(connection, head) -> a Pending when the request went upstream, else None"},
    {"upstream", (PyCFunction)relay_upstream, METH_VARARGS,
     "upstream(port[, where]) -> a new upstream connection's protocol (`where` names it in messages)"},
    {"close", (PyCFunction)relay_close, METH_NOARGS, "close the idle upstream connections; take no more"},
    {"idle", (PyCFunction)relay_idle, METH_O, "idle(port) -> idle upstream connections to that port"},
    {"_flush", (PyCFunction)relay_flush, METH_NOARGS, "write the answers held in this loop pass"},
    {"kept_after", (PyCFunction)relay_kept_after, METH_O,
     "kept_after(seq) -> the records of relayed requests numbered above seq, oldest first"},
    {"reader", (PyCFunction)relay_reader, METH_O,
     "reader(connection) -> the connection's data_received: `take` first, `connection.receive` for the rest"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef relay_members[] = {
    {"taken", T_LONGLONG, offsetof(RelayObject, taken), READONLY, "requests relayed in C so far"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dream.http._relay.Relay",
    .tp_basicsize = sizeof(RelayObject),
    .tp_dealloc = (destructor)relay_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)relay_traverse,
    .tp_clear = (inquiry)relay_clear,
    .tp_doc = "The gateway's usual request relayed in C: see the C source.",
    .tp_methods = relay_methods,
    .tp_members = relay_members,
    .tp_init = (initproc)relay_init,
    .tp_new = PyType_GenericNew,
};

/* -- Reader ------------------------------------------------------------------------------------------- */

/* What uvloop calls with each read of a client connection (the server's `Connection.data_received`):
 * `take` first, in C, and the server's Python path (`Connection.receive`) only for what it does not take,
 * so a relayed request runs no Python frame on its way in. */
typedef struct {
    PyObject_HEAD
    RelayObject *relay;
    PyObject *connection;
    vectorcallfunc vectorcall;
} ReaderObject;

static PyObject *reader_vectorcall(ReaderObject *r, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    if (PyVectorcall_NARGS(nargsf) != 1 || kwnames != NULL)
        return PyErr_Format(PyExc_TypeError, "data_received(data)");
    if (r->connection == NULL)
        Py_RETURN_NONE; /* cleared: the connection is being collected */
    PyObject *take_args[2] = {r->connection, args[0]};
    PyObject *taken = relay_take(r->relay, take_args, 2);
    if (taken == NULL)
        return NULL;
    int went = taken != Py_None;
    Py_DECREF(taken);
    if (went)
        Py_RETURN_NONE;
    return PyObject_CallMethodOneArg(r->connection, s_receive, args[0]);
}

static PyObject *relay_reader(RelayObject *self, PyObject *connection) {
    ReaderObject *r = PyObject_GC_New(ReaderObject, &ReaderType);
    if (r == NULL)
        return NULL;
    r->relay = (RelayObject *)Py_NewRef(self);
    r->connection = Py_NewRef(connection);
    r->vectorcall = (vectorcallfunc)reader_vectorcall;
    PyObject_GC_Track(r);
    return (PyObject *)r;
}

/* The connection holds its reader and the reader its connection: a cycle the collector breaks. */
static int reader_traverse(ReaderObject *r, visitproc visit, void *arg) {
    Py_VISIT(r->relay);
    Py_VISIT(r->connection);
    return 0;
}

static int reader_clear(ReaderObject *r) {
    Py_CLEAR(r->relay);
    Py_CLEAR(r->connection);
    return 0;
}

static void reader_dealloc(ReaderObject *r) {
    PyObject_GC_UnTrack(r);
    reader_clear(r);
    PyObject_GC_Del(r);
}

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dream.http._relay.Reader",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_vectorcall_offset = offsetof(ReaderObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_traverse = (traverseproc)reader_traverse,
    .tp_clear = (inquiry)reader_clear,
    .tp_doc = "A client connection's data_received: the relay's take first, the server's Python path else.",
};

/* -- Pending ------------------------------------------------------------------------------------------ */

static void pending_dealloc(PendingObject *p) {
    Py_XDECREF(p->relay);
    Py_XDECREF(p->connection);
    Py_XDECREF(p->head);
    Py_XDECREF(p->target);
    Py_XDECREF(p->targets);
    Py_XDECREF(p->target_id);
    Py_XDECREF(p->peer);
    Py_XDECREF(p->method);
    Py_XDECREF(p->host);
    Py_XDECREF(p->path);
    Py_XDECREF(p->upstream);
    PyObject_Free(p);
}

static PyObject *pending_attach(PendingObject *p, PyObject *const *args, Py_ssize_t nargs) {
    Py_RETURN_NONE; /* the connection was given to `take` */
}

/* The client went away: drop the upstream connection (the substrate then stops the call). */
static PyObject *pending_cancel(PendingObject *p, PyObject *unused) {
    if (p->finished)
        Py_RETURN_NONE;
    p->finished = 1;
    UpstreamObject *u = p->upstream;
    if (u != NULL && u->pending == p) {
        Py_CLEAR(u->pending);
        unwatch(u);
        upstream_abort(u);
    }
    int rc = add_inflight(p->relay, p->target_id, -1);
    if (rc == 0)
        rc = record(p, 502, 0, empty_bytes);
    pending_clear(p);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMemberDef pending_members[] = {
    {"connection", T_OBJECT, offsetof(PendingObject, connection), READONLY, NULL},
    {"head", T_OBJECT, offsetof(PendingObject, head), READONLY, NULL},
    {"target", T_OBJECT, offsetof(PendingObject, target), READONLY, NULL},
    {"targets", T_OBJECT, offsetof(PendingObject, targets), READONLY, NULL},
    {"seq", T_LONGLONG, offsetof(PendingObject, seq), READONLY, NULL},
    {"began", T_LONGLONG, offsetof(PendingObject, began), READONLY, NULL},
    {"finished", T_BOOL, offsetof(PendingObject, finished), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyMethodDef pending_methods[] = {
    {"attach", (PyCFunction)(void (*)(void))pending_attach, METH_FASTCALL, "the server's Later.attach"},
    {"cancel", (PyCFunction)pending_cancel, METH_NOARGS, "the client went away: drop the upstream request"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PendingType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dream.http._relay.Pending",
    .tp_basicsize = sizeof(PendingObject),
    .tp_dealloc = (destructor)pending_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A request the relay sent upstream (the HTTP server's `Later`).",
    .tp_methods = pending_methods,
    .tp_members = pending_members,
};

/* -- Upstream ----------------------------------------------------------------------------------------- */

static void upstream_dealloc(UpstreamObject *u) {
    Py_XDECREF(u->relay);
    Py_XDECREF(u->transport);
    Py_XDECREF(u->port);
    Py_XDECREF(u->where);
    Py_XDECREF(u->pending);
    PyObject_Free(u);
}

static PyObject *upstream_connection_made(UpstreamObject *u, PyObject *transport) {
    Py_XSETREF(u->transport, Py_NewRef(transport));
    RelayObject *relay = u->relay;
    PyObject *idle = PyDict_GetItemWithError(relay->idle, u->port);
    if (idle == NULL) {
        if (PyErr_Occurred())
            return NULL;
        idle = PyList_New(0);
        if (idle == NULL || PyDict_SetItem(relay->idle, u->port, idle) < 0) {
            Py_XDECREF(idle);
            return NULL;
        }
        Py_DECREF(idle);
    }
    if (relay->closed || PyList_GET_SIZE(idle) >= relay->max_idle) {
        u->closed = 1;
        PyObject *done = PyObject_CallMethodNoArgs(transport, s_close);
        Py_XDECREF(done);
        return done == NULL ? NULL : Py_NewRef(Py_None);
    }
    if (PyList_Append(idle, (PyObject *)u) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The usual answer's parts: status, kept header fields, body. */
typedef struct {
    int status;
    Field fields[MAX_FIELDS];
    int count;
    const char *body;
    Py_ssize_t body_len;
} Answer;

/* The fields the client does not get (`RESPONSE_DROP`; the framing ones are not in a usual answer but
 * its Content-Length, which the server writes itself). */
static bool not_relayed(const char *low, Py_ssize_t n) {
    return is_named(low, n, "content-length") || is_named(low, n, "keep-alive") || is_named(low, n, "te") ||
           is_named(low, n, "proxy-connection") || is_named(low, n, "server") || is_named(low, n, "date");
}

/* `parse_response`'s usual shape (`headparse.c`): false for anything else. */
static bool usual_answer(const char *start, Py_ssize_t size, Answer *a) {
    const char *body;
    const char *at = status_line(start, size, &a->status, &body);
    if (at == NULL || a->status == 204 || a->status == 304)
        return false;
    long long length = -1;
    char low[NAME_ROOM];
    a->count = 0;
    while (at < body - 2) {
        Field f;
        at = next_field(at, body, &f, low);
        if (at == NULL)
            return false;
        if (is_named(low, f.name_len, "content-length")) {
            if (length >= 0 || (length = length_of(&f)) < 0)
                return false;
        } else if (framing(low, f.name_len))
            return false;
        else if (!not_relayed(low, f.name_len)) {
            if (a->count >= MAX_FIELDS)
                return false;
            a->fields[a->count++] = f;
        }
    }
    if (at != body - 2 || length < 0 || (long long)(start + size - body) != length)
        return false;
    a->body = body;
    a->body_len = (Py_ssize_t)length;
    return true;
}

/* The client's answer, as the server's `respond` writes a relayed answer on a kept-alive HTTP/1.1
 * connection: status line, the substrate's fields (names lower case), x-substrate-peer, the length. */
static PyObject *client_answer(RelayObject *relay, Answer *a, PyObject *peer) {
    PyObject *status = PyLong_FromLong(a->status);
    if (status == NULL)
        return NULL;
    PyObject *line = PyDict_GetItemWithError(relay->status_lines, status);
    Py_DECREF(status);
    char own[32];
    const char *line_at = own;
    Py_ssize_t line_len;
    if (line != NULL && PyBytes_Check(line)) {
        line_at = PyBytes_AS_STRING(line);
        line_len = PyBytes_GET_SIZE(line);
    } else {
        if (PyErr_Occurred())
            return NULL;
        line_len = snprintf(own, sizeof own, "HTTP/1.1 %d \r\n", a->status);
    }
    char length[48] = "content-length: ";
    int length_len = 16 + put_decimal(length + 16, (long long)a->body_len);
    memcpy(length + length_len, "\r\n\r\n", 4);
    length_len += 4;
    Py_ssize_t size = line_len + sizeof "x-substrate-peer: \r\n" - 1 + PyBytes_GET_SIZE(peer) + length_len + a->body_len;
    for (int i = 0; i < a->count; i++)
        size += a->fields[i].name_len + 2 + a->fields[i].value_len + 2;
    PyObject *answer = PyBytes_FromStringAndSize(NULL, size);
    if (answer == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(answer);
    memcpy(out, line_at, (size_t)line_len);
    out += line_len;
    for (int i = 0; i < a->count; i++) {
        Field *f = &a->fields[i];
        for (Py_ssize_t j = 0; j < f->name_len; j++) {
            char c = f->name[j];
            *out++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        *out++ = ':';
        *out++ = ' ';
        memcpy(out, f->value, (size_t)f->value_len);
        out += f->value_len;
        *out++ = '\r';
        *out++ = '\n';
    }
    memcpy(out, "x-substrate-peer: ", 18);
    out += 18;
    memcpy(out, PyBytes_AS_STRING(peer), (size_t)PyBytes_GET_SIZE(peer));
    out += PyBytes_GET_SIZE(peer);
    *out++ = '\r';
    *out++ = '\n';
    memcpy(out, length, (size_t)length_len);
    out += length_len;
    memcpy(out, a->body, (size_t)a->body_len);
    return answer;
}

/* Whether the connection is in the state the usual answer is written in: the pending request its only
 * one, its transport open, no graceful stop under way. -1 on error. */
static int usual_connection(PyObject *connection, PyObject *server, PendingObject *p) {
    PyObject *later = slot_get(&c_later, connection, s_later);
    if (later == NULL)
        return -1;
    Py_DECREF(later);
    if (later != (PyObject *)p)
        return 0;
    int closing = is_true_attr(&c_closing, connection, s_closing);
    if (closing != 0)
        return closing < 0 ? -1 : 0;
    int exiting = is_true_attr(&c_should_exit, server, s_should_exit);
    if (exiting != 0)
        return exiting < 0 ? -1 : 0;
    PyObject *transport = slot_get(&c_transport, connection, s_transport);
    if (transport == NULL)
        return -1;
    PyObject *shut = PyObject_CallMethodNoArgs(transport, s_is_closing);
    Py_DECREF(transport);
    if (shut == NULL)
        return -1;
    int gone = PyObject_IsTrue(shut);
    Py_DECREF(shut);
    return gone < 0 ? -1 : !gone;
}

/* The server's `hold` for the relay's answers: the connection's answers are written once the loop pass
 * ends, by `_flush`, which writes as `Connection.flush` does (whichever of it and the server's runs
 * first writes all the connection holds, in order). */
static int hold(RelayObject *relay, PyObject *server, PyObject *connection) {
    if (PyList_GET_SIZE(relay->unflushed) == 0) {
        if (relay->loop == NULL) {
            relay->loop = PyObject_GetAttr(server, s_loop);
            relay->flush = relay->loop != NULL ? PyObject_GetAttr((PyObject *)relay, s_flush) : NULL;
            if (relay->flush == NULL) {
                Py_CLEAR(relay->loop);
                return -1;
            }
        }
        PyObject *done = PyObject_CallMethodOneArg(relay->loop, s_call_soon, relay->flush);
        if (done == NULL)
            return -1;
        Py_DECREF(done);
    }
    return PyList_Append(relay->unflushed, connection);
}

static PyObject *relay_flush(RelayObject *self, PyObject *unused) {
    PyObject *connections = self->unflushed;
    self->unflushed = PyList_New(0);
    if (self->unflushed == NULL) {
        self->unflushed = connections;
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(connections); i++) {
        PyObject *connection = PyList_GET_ITEM(connections, i);
        PyObject *held = slot_get(&c_held, connection, s_held);
        if (held == NULL || !PyList_Check(held) || PyList_GET_SIZE(held) == 0) {
            Py_XDECREF(held);
            PyErr_Clear();
            continue;
        }
        PyObject *transport = slot_get(&c_transport, connection, s_transport);
        PyObject *closing = transport != NULL ? PyObject_CallMethodNoArgs(transport, s_is_closing) : NULL;
        PyObject *data = NULL, *done = NULL;
        if (closing != NULL && !PyObject_IsTrue(closing))
            data = PyList_GET_SIZE(held) == 1 ? Py_NewRef(PyList_GET_ITEM(held, 0))
                                               : PyObject_CallMethodOneArg(empty_bytes, s_join, held);
        /* Emptied in place before the write, as `Connection.flush` empties it (no new list per flush). */
        if (!PyErr_Occurred() && PyList_SetSlice(held, 0, PyList_GET_SIZE(held), NULL) == 0 && data != NULL)
            done = PyObject_CallMethodOneArg(transport, s_write, data);
        if (PyErr_Occurred())
            PyErr_WriteUnraisable(connection);
        Py_XDECREF(done);
        Py_XDECREF(data);
        Py_XDECREF(closing);
        Py_XDECREF(transport);
        Py_DECREF(held);
    }
    Py_DECREF(connections);
    Py_RETURN_NONE;
}

/* Write the answer as the server holds answers (`HttpServer.hold`), then let the connection go on as
 * `Connection.answer_later` and `_next` do. */
static int answer_client(RelayObject *relay, PyObject *connection, PyObject *server, PyObject *answer) {
    if (slot_set(&c_later, connection, s_later, Py_None) < 0)
        return -1;
    PyObject *held = slot_get(&c_held, connection, s_held);
    if (held == NULL)
        return -1;
    if (!PyList_Check(held)) {
        Py_DECREF(held);
        PyErr_SetString(PyExc_TypeError, "Connection.held is a list");
        return -1;
    }
    if (PyList_GET_SIZE(held) == 0 && hold(relay, server, connection) < 0) {
        Py_DECREF(held);
        return -1;
    }
    int rc = PyList_Append(held, answer);
    Py_DECREF(held);
    if (rc < 0)
        return -1;
    PyObject *now = PyFloat_FromDouble(monotonic());
    if (now == NULL || slot_set(&c_last_active, connection, s_last_active, now) < 0) {
        Py_XDECREF(now);
        return -1;
    }
    Py_DECREF(now);
    /* `_next`, for the usual case: nothing waits, nothing refused, no head begun, still reading. */
    PyObject *waiting = slot_get(&c_waiting, connection, s_waiting);
    if (waiting == NULL)
        return -1;
    Py_ssize_t queued = PyObject_Size(waiting);
    Py_DECREF(waiting);
    PyObject *refusal = slot_get(&c_refusal, connection, s_refusal);
    if (refusal == NULL)
        return -1;
    Py_DECREF(refusal);
    int ended = is_true_attr(&c_ended, connection, s_ended);
    int begun = is_true_attr(&c_head_size, connection, s_head_size);
    if (queued < 0 || ended < 0 || begun < 0)
        return -1;
    if (queued == 0 && refusal == Py_None && !ended && !begun)
        return slot_set(&c_busy, connection, s_busy, Py_False);
    PyObject *done = PyObject_CallMethodNoArgs(connection, s_next);
    Py_XDECREF(done);
    return done == NULL ? -1 : 0;
}

/* Back to the idle list, or closed when that is full or the relay is closed. */
static void release(UpstreamObject *u) {
    RelayObject *relay = u->relay;
    PyObject *idle = PyDict_GetItem(relay->idle, u->port);
    if (!u->closed && !relay->closed && idle != NULL && PyList_GET_SIZE(idle) < relay->max_idle) {
        if (PyList_Append(idle, (PyObject *)u) == 0)
            return;
        PyErr_Clear();
    }
    u->closed = 1;
    if (u->transport != NULL) {
        PyObject *done = PyObject_CallMethodNoArgs(u->transport, s_close);
        if (done == NULL)
            PyErr_WriteUnraisable((PyObject *)u);
        Py_XDECREF(done);
    }
}

static PyObject *upstream_data_received(UpstreamObject *u, PyObject *data) {
    PendingObject *p = u->pending;
    if (p == NULL) {
        /* Bytes nobody asked for: the stream is out of step, never reuse it. */
        upstream_abort(u);
        forget(u);
        Py_RETURN_NONE;
    }
    u->received = u->progress = 1;
    u->pending = NULL; /* the reference moves to this function */
    unwatch(u);
    Answer a;
    if (!PyBytes_Check(data) || !usual_answer(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &a)) {
        /* Chunks, a close, a body still to come, bytes after it...: the Python pool's parser takes the
         * connection over, with what came. */
        u->closed = 1;
        fall_back(k_data, p, u, data);
        Py_CLEAR(u->transport);
        Py_DECREF(p);
        Py_RETURN_NONE;
    }
    PyObject *connection = p->connection;
    PyObject *server = slot_get(&c_server, connection, s_server);
    int usual = server != NULL ? usual_connection(connection, server, p) : -1;
    if (usual <= 0) {
        if (usual < 0)
            PyErr_WriteUnraisable(connection);
        fall_back(k_answer, p, u, data);
    } else {
        p->finished = 1;
        PyObject *answer = client_answer(u->relay, &a, p->peer);
        if (answer == NULL || add_inflight(u->relay, p->target_id, -1) < 0 ||
            record(p, a.status, a.body_len, p->peer) < 0 || answer_client(u->relay, connection, server, answer) < 0)
            PyErr_WriteUnraisable(connection);
        Py_XDECREF(answer);
        pending_clear(p);
    }
    Py_XDECREF(server);
    Py_DECREF(p);
    release(u);
    Py_RETURN_NONE;
}

/* Closed or broken: an idle connection leaves the list; one waiting for an answer fails over. */
static void lost(UpstreamObject *u, PyObject *exc) {
    if (u->closed && u->pending == NULL)
        return;
    u->closed = 1;
    PendingObject *p = u->pending;
    if (p == NULL) {
        forget(u);
        return;
    }
    u->pending = NULL;
    unwatch(u);
    fall_back(k_lost, p, u, exc);
    Py_DECREF(p);
}

static PyObject *upstream_eof_received(UpstreamObject *u, PyObject *unused) {
    lost(u, Py_None);
    Py_RETURN_FALSE; /* let the transport close */
}

static PyObject *upstream_connection_lost(UpstreamObject *u, PyObject *exc) {
    lost(u, exc);
    Py_CLEAR(u->transport);
    Py_RETURN_NONE;
}

/* The pool's timeout sweep: no byte of the answer for `read_timeout`. */
static PyObject *upstream_fail(UpstreamObject *u, PyObject *error) {
    PendingObject *p = u->pending;
    u->pending = NULL;
    unwatch(u);
    upstream_abort(u);
    if (p != NULL) {
        if (!p->finished)
            fall_back(k_error, p, u, error);
        Py_DECREF(p);
    }
    Py_RETURN_NONE;
}

static PyObject *upstream_where(UpstreamObject *u, PyObject *unused) {
    if (u->where != NULL)
        return Py_NewRef(u->where);
    return PyUnicode_FromFormat("127.0.0.1:%S", u->port);
}

static PyObject *upstream_nothing(UpstreamObject *u, PyObject *unused) {
    Py_RETURN_NONE;
}

static PyMethodDef upstream_methods[] = {
    {"connection_made", (PyCFunction)upstream_connection_made, METH_O, NULL},
    {"data_received", (PyCFunction)upstream_data_received, METH_O, NULL},
    {"eof_received", (PyCFunction)upstream_eof_received, METH_NOARGS, NULL},
    {"connection_lost", (PyCFunction)upstream_connection_lost, METH_O, NULL},
    {"pause_writing", (PyCFunction)upstream_nothing, METH_NOARGS, NULL},
    {"resume_writing", (PyCFunction)upstream_nothing, METH_NOARGS, NULL},
    {"_fail", (PyCFunction)upstream_fail, METH_O, "the pool's sweep: fail the request waiting here"},
    {"_where", (PyCFunction)upstream_where, METH_NOARGS, "host:port, for messages"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef upstream_members[] = {
    {"transport", T_OBJECT, offsetof(UpstreamObject, transport), READONLY, NULL},
    {"port", T_OBJECT, offsetof(UpstreamObject, port), READONLY, NULL},
    {"closed", T_BOOL, offsetof(UpstreamObject, closed), READONLY, NULL},
    {"received", T_BOOL, offsetof(UpstreamObject, received), READONLY, NULL},
    {"progress", T_BOOL, offsetof(UpstreamObject, progress), 0, NULL},
    {"quiet", T_INT, offsetof(UpstreamObject, quiet), 0, NULL},
    {"sent_at", T_DOUBLE, offsetof(UpstreamObject, sent_at), READONLY, "time.monotonic() when sent"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject UpstreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dream.http._relay.Upstream",
    .tp_basicsize = sizeof(UpstreamObject),
    .tp_dealloc = (destructor)upstream_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The asyncio protocol of one of the relay's upstream connections.",
    .tp_methods = upstream_methods,
    .tp_members = upstream_members,
};

/* -- the module ---------------------------------------------------------------------------------------- */

static PyObject *relay_parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    return py_parse(self, args, nargs);
}

static PyMethodDef relay_module_methods[] = {
    {"parse", (PyCFunction)(void (*)(void))relay_parse, METH_FASTCALL,
     "parse(head, Request, max_request_line, max_header_line, max_headers): `headparse.c`'s, for the fallback"},
    {"parse_response", py_parse_response, METH_O, "parse_response(data): `headparse.c`'s, for the fallback"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef relay_module = {PyModuleDef_HEAD_INIT, "_relay", NULL, -1, relay_module_methods};

PyMODINIT_FUNC PyInit__relay(void) {
    static const Name names[] = {
        {&s_socket, "socket"},
        {&s_in_head, "in_head"},
        {&s_max_head, "max_head"},
        {&s_fast, "fast"},
        {&s_loop, "loop"},
        {&s_call_soon, "call_soon"},
        {&s_flush, "_flush"},
        {&s_join, "join"},
        {&s_later, "later"},
        {&s_busy, "busy"},
        {&s_held, "held"},
        {&s_server, "server"},
        {&s_waiting, "waiting"},
        {&s_refusal, "refusal"},
        {&s_ended, "ended"},
        {&s_head_size, "head_size"},
        {&s_last_active, "last_active"},
        {&s_transport, "transport"},
        {&s_closing, "closing"},
        {&s_should_exit, "should_exit"},
        {&s_next, "_next"},
        {&s_write, "write"},
        {&s_is_closing, "is_closing"},
        {&s_abort, "abort"},
        {&s_close, "close"},
        {&s_seq, "seq"},
        {&s_id, "id"},
        {&s_port, "port"},
        {&s_score, "score"},
        {&s_header, "header"},
        {&s_url_room, "url_room"},
        {&s_max_header_line, "max_header_line"},
        {&s_max_headers, "max_headers"},
        {&s_sweeper, "_sweeper"},
        {&s_watch, "_watch"},
        {&s_busy_set, "_busy"},
        {&k_data, "data"},
        {&k_answer, "answer"},
        {&k_lost, "lost"},
        {&k_error, "error"},
        {&s_receive, "receive"},
        {&s_size, "size"},
    };
    if (set_up() < 0 || intern_all(names, sizeof names / sizeof names[0]) < 0)
        return NULL;
    empty_bytes = PyBytes_FromStringAndSize("", 0);
    if (empty_bytes == NULL)
        return NULL;
    if (PyType_Ready(&RelayType) < 0 || PyType_Ready(&UpstreamType) < 0 || PyType_Ready(&PendingType) < 0 ||
        PyType_Ready(&ReaderType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&relay_module);
    if (module == NULL)
        return NULL;
    if (PyModule_AddObjectRef(module, "Relay", (PyObject *)&RelayType) < 0 ||
        PyModule_AddObjectRef(module, "Upstream", (PyObject *)&UpstreamType) < 0 ||
        PyModule_AddObjectRef(module, "Pending", (PyObject *)&PendingType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
