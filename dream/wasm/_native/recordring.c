/* The request inspector's ring of records (dream.http.records.SlotRing), included by nativecall.c: the
 * host-call counts it keeps are indexed by nativecall.c's H_* names.
 *
 * A substrate keeps its last records in one array of fixed-size slots, allocated when it starts. A
 * request's record is written into the next slot in C (`served`, `record`): numbers as C integers, the
 * method, host, path and gateway header copied as UTF-8 into bounded buffers (a longer one is cut at a
 * character boundary and ends in U+2026 "..."), the function's name and project held as references to
 * the strings its ReadyFunction already has. No Python object is made per request and none is kept
 * alive by the ring, so what a request allocates goes straight back to the allocator. Records become
 * Python values only when read (`read`). Every call holds the GIL from start to end, so a reader never
 * sees half a record; `read` copies each slot before making its values.
 */

enum { T_METHOD, T_HOST, T_PATH, T_VIA, T_COUNT };

typedef struct slot {
    uint64_t seq; /* 0: never filled */
    int64_t time, total_ns, instantiate_ns, wasm_ns, bytes_in, bytes_out;
    int32_t status;
    uint32_t pages;
    PyObject *function, *project; /* owned */
    PyObject *calls;              /* host_calls as given, when `counts` cannot say it exactly (owned) */
    uint32_t counts[H_COUNT];
    uint16_t len[T_COUNT];
    uint8_t counted; /* host_calls: 0 None, 1 `counts` (in H_* order, zeros left out), 2 `calls` */
    /* then the texts, one after the other (method, host, path, via): `len` bytes of each, at most
     * ring->cap of it. Packed, a usual record (a short host and path) fits three cache lines. */
} slot_t;

typedef struct {
    PyObject_HEAD
    unsigned char *slots;
    size_t size, slot_bytes;
    uint64_t seq; /* the last record's number (records are numbered from 1) */
    size_t cap[T_COUNT];
} ring_t;

static PyTypeObject ring_type;

/* One record's values on their way to a slot. Texts point into `owner[i]` (a new reference). */
typedef struct entry {
    int64_t time, status, total_ns, instantiate_ns, wasm_ns, pages, bytes_in, bytes_out;
    PyObject *function, *project, *calls; /* new references */
    int counted;
    uint32_t counts[H_COUNT];
    const char *text[T_COUNT];
    Py_ssize_t n[T_COUNT];
    bool latin1[T_COUNT]; /* bytes, shown as latin-1 text (the raw Host header, the gateway's header) */
    PyObject *owner[T_COUNT];
} entry_t;

/* The host calls of this thread's last call serve() answered with a Ring as its counts (nativecall.c
 * served_counts): the next Ring.served given a Ring as its counts takes them. */
static __thread struct {
    bool set;
    uint32_t counts[H_COUNT];
} last_served;

static PyObject *r_method, *r_host, *r_path, *r_body, *r_headers, *r_raw_headers, *r_instantiate_ns, *r_wasm_ns,
    *r_pages, *r_host_calls, *r_name, *r_project, *r_via, *r_empty;
static const char ELLIPSIS[] = "\xe2\x80\xa6"; /* U+2026, the mark of a cut text */

static int record_names(void) {
    PyObject **const slots[] = {&r_method,    &r_host,         &r_path,       &r_body,
                                &r_headers,   &r_raw_headers,  &r_instantiate_ns, &r_wasm_ns,
                                &r_pages,     &r_host_calls,   &r_name,       &r_project};
    const char *const texts[] = {"method",  "host",        "path",           "body",
                                 "headers", "raw_headers", "instantiate_ns", "wasm_ns",
                                 "pages",   "host_calls",  "name",           "project"};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        if ((*slots[i] = PyUnicode_InternFromString(texts[i])) == NULL)
            return -1;
    r_via = PyBytes_FromString("x-dream-gateway"); /* dream.http.records.VIA */
    r_empty = PyBytes_FromStringAndSize(NULL, 0);
    return r_via != NULL && r_empty != NULL ? 0 : -1;
}

/* The value of the x-dream-gateway header where a gateway puts it (last, or before content-length);
 * b"" when it is not there (dream.http.records.via_of). New reference. */
static PyObject *record_via(PyObject *headers) {
    if (headers != NULL && PyList_Check(headers)) {
        Py_ssize_t n = PyList_GET_SIZE(headers);
        for (Py_ssize_t i = n - 1; i >= 0 && i >= n - 2; i--) {
            PyObject *pair = PyList_GET_ITEM(headers, i), *name = NULL, *value = NULL;
            if (PyTuple_Check(pair) && PyTuple_GET_SIZE(pair) == 2) {
                name = PyTuple_GET_ITEM(pair, 0), value = PyTuple_GET_ITEM(pair, 1);
            } else if (PyList_Check(pair) && PyList_GET_SIZE(pair) == 2) { /* an ASGI server's [name, value] */
                name = PyList_GET_ITEM(pair, 0), value = PyList_GET_ITEM(pair, 1);
            }
            if (name != NULL) {
                int same = PyObject_RichCompareBool(name, r_via, Py_EQ);
                if (same < 0)
                    return NULL;
                if (same)
                    return Py_NewRef(value);
            }
        }
    }
    return Py_NewRef(r_empty);
}

/* A slot attribute (`__slots__`, as the parsed request and ReadyFunction have) read at its offset: the
 * generic lookup is most of what a record costs in C otherwise. Found once per type and call site, used
 * while the type is unchanged (its version tag); any other object goes through PyObject_GetAttr. */
typedef struct member_at {
    PyTypeObject *type; /* owned */
    unsigned int version;
    Py_ssize_t offset;
} member_at_t;

static member_at_t at_method, at_path, at_body, at_headers, at_raw_headers, at_name, at_project;

static PyObject *attr(PyObject *obj, PyObject *name, member_at_t *at) {
    PyTypeObject *type = Py_TYPE(obj);
    if (type == at->type && type->tp_version_tag == at->version) {
        PyObject *value = *(PyObject **)((char *)obj + at->offset);
        if (value != NULL)
            return Py_NewRef(value);
    } else if (type->tp_getattro == PyObject_GenericGetAttr &&
               PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        PyObject *found = _PyType_Lookup(type, name); /* borrowed */
        if (found != NULL && Py_IS_TYPE(found, &PyMemberDescr_Type)) {
            PyMemberDef *member = ((PyMemberDescrObject *)found)->d_member;
            if (member->type == T_OBJECT_EX) {
                Py_XSETREF(at->type, (PyTypeObject *)Py_NewRef(type));
                at->version = type->tp_version_tag;
                at->offset = member->offset;
            }
        }
    }
    return PyObject_GetAttr(obj, name);
}

/* entry->text[which] from `value` (a new reference the entry takes): str as UTF-8 (surrogates passed
 * through), bytes as latin-1. -1 with TypeError for anything else. */
static int entry_text(entry_t *e, int which, PyObject *value) {
    if (value == NULL)
        return -1;
    e->owner[which] = value;
    if (PyBytes_Check(value)) {
        e->text[which] = PyBytes_AS_STRING(value);
        e->n[which] = PyBytes_GET_SIZE(value);
        e->latin1[which] = true;
        return 0;
    }
    if (!PyUnicode_Check(value)) {
        PyErr_Format(PyExc_TypeError, "a record's method, host, path and via are str or bytes, not %.80s",
                     Py_TYPE(value)->tp_name);
        return -1;
    }
    e->text[which] = PyUnicode_AsUTF8AndSize(value, &e->n[which]); /* ASCII: the str's own bytes */
    if (e->text[which] == NULL) {                                  /* a lone surrogate */
        PyErr_Clear();
        PyObject *encoded = PyUnicode_AsEncodedString(value, "utf-8", "surrogatepass");
        if (encoded == NULL)
            return -1;
        e->owner[which] = encoded;
        Py_DECREF(value);
        e->text[which] = PyBytes_AS_STRING(encoded);
        e->n[which] = PyBytes_GET_SIZE(encoded);
    }
    return 0;
}

/* A whole number field; -1 with an exception set when `value` is not one (or is NULL). */
static int entry_int(PyObject *value, int64_t *out, bool owned) {
    if (value == NULL)
        return -1;
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow); /* no byte-array detour for big values */
    if (owned)
        Py_DECREF(value);
    if (overflow != 0)
        PyErr_SetString(PyExc_OverflowError, "a record's number does not fit 64 bits");
    if ((n == -1 || overflow != 0) && PyErr_Occurred())
        return -1;
    *out = n;
    return 0;
}

/* The length of a body (bytes-like) as bytes_in / bytes_out; takes the reference. */
static int entry_len(PyObject *body, int64_t *out) {
    if (body == NULL)
        return -1;
    Py_ssize_t n = PyBytes_Check(body) ? PyBytes_GET_SIZE(body) : PyObject_Length(body);
    Py_DECREF(body);
    if (n < 0)
        return -1;
    *out = n;
    return 0;
}

/* host_calls: None; a Ring: the counts serve() left for this thread (last_served); a dict whose names are
 * the C host calls' in their H_* order (what a call counted in C makes) kept as C counts; any other dict
 * kept as it is (a call with host calls made in Python). */
static void entry_counts(entry_t *e, PyObject *counts) {
    if (counts == Py_None)
        return;
    if (Py_IS_TYPE(counts, &ring_type)) {
        if (last_served.set) {
            e->counted = 1;
            memcpy(e->counts, last_served.counts, sizeof e->counts);
            last_served.set = false;
        }
        return;
    }
    e->counted = 1;
    bool exact = PyDict_Check(counts);
    Py_ssize_t pos = 0;
    PyObject *name, *value;
    int next = 0;
    while (exact && PyDict_Next(counts, &pos, &name, &value)) {
        int i = next;
        while (i < H_COUNT && host_name_objects[i] != name)
            i++;
        long long n = i < H_COUNT && PyLong_CheckExact(value) ? PyLong_AsLongLong(value) : 0;
        if (n <= 0 || n > (long long)UINT32_MAX) {
            PyErr_Clear(); /* an overflow: kept as given */
            exact = false;
            break;
        }
        e->counts[i] = (uint32_t)n;
        next = i + 1;
    }
    if (!exact) {
        memset(e->counts, 0, sizeof e->counts);
        e->counted = 2;
        e->calls = Py_NewRef(counts);
    }
}

static void entry_clear(entry_t *e) {
    for (int i = 0; i < T_COUNT; i++)
        Py_CLEAR(e->owner[i]);
    Py_CLEAR(e->function);
    Py_CLEAR(e->project);
    Py_CLEAR(e->calls);
}

static slot_t *ring_slot(ring_t *ring, uint64_t seq) {
    return (slot_t *)(ring->slots + ((seq - 1) % ring->size) * ring->slot_bytes);
}

/* Copy `n` bytes of text into a buffer of `cap` (>= 4) bytes as UTF-8 (latin-1 bytes are converted);
 * a text that does not fit keeps its longest whole-character start that leaves room for the mark. */
static uint16_t put_text(char *out, size_t cap, const char *data, Py_ssize_t n, bool latin1) {
    size_t need = (size_t)n, len = 0;
    if (latin1)
        for (Py_ssize_t i = 0; i < n; i++)
            need += ((unsigned char)data[i]) >> 7;
    size_t room = need <= cap ? cap : cap - (sizeof ELLIPSIS - 1);
    if (!latin1) {
        len = need <= cap ? need : room;
        while (len > 0 && len < need && ((unsigned char)data[len] & 0xC0) == 0x80)
            len--; /* not inside a character */
        memcpy(out, data, len);
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)data[i];
            if (len + 1 + (c >> 7) > room)
                break;
            if (c < 0x80) {
                out[len++] = (char)c;
            } else {
                out[len++] = (char)(0xC0 | (c >> 6));
                out[len++] = (char)(0x80 | (c & 0x3F));
            }
        }
    }
    if (need > cap) {
        memcpy(out + len, ELLIPSIS, sizeof ELLIPSIS - 1);
        len += sizeof ELLIPSIS - 1;
    }
    return (uint16_t)len;
}

/* Write the entry into the next slot, numbered ring->seq + 1; takes the entry's references. */
static void ring_keep(ring_t *ring, entry_t *e) {
    uint64_t seq = ring->seq + 1;
    slot_t *slot = ring_slot(ring, seq);
    PyObject *gone[3] = {slot->function, slot->project, slot->calls};
    slot->seq = seq;
    slot->time = e->time;
    slot->status = (int32_t)e->status;
    slot->total_ns = e->total_ns;
    slot->instantiate_ns = e->instantiate_ns;
    slot->wasm_ns = e->wasm_ns;
    slot->pages = (uint32_t)e->pages;
    slot->bytes_in = e->bytes_in;
    slot->bytes_out = e->bytes_out;
    slot->function = e->function;
    slot->project = e->project;
    slot->calls = e->calls;
    e->function = e->project = e->calls = NULL;
    slot->counted = (uint8_t)e->counted;
    memcpy(slot->counts, e->counts, sizeof slot->counts);
    char *texts = (char *)(slot + 1);
    for (int i = 0; i < T_COUNT; i++) {
        slot->len[i] = put_text(texts, ring->cap[i], e->text[i], e->n[i], e->latin1[i]);
        texts += slot->len[i];
    }
    ring->seq = seq;
    entry_clear(e);
    for (int i = 0; i < 3; i++) /* last: freeing what the slot held runs no code that reads the ring */
        Py_XDECREF(gone[i]);
}

/* The function's name and project, the request's body length and its gateway header: what both ways
 * of recording read from the same objects. */
static int entry_common(entry_t *e, PyObject *ready, PyObject *request, PyObject *headers_name) {
    e->function = attr(ready, r_name, &at_name);
    e->project = attr(ready, r_project, &at_project);
    if (e->function == NULL || e->project == NULL || entry_len(attr(request, r_body, &at_body), &e->bytes_in) < 0)
        return -1;
    PyObject *headers = attr(request, headers_name, headers_name == r_headers ? &at_headers : &at_raw_headers);
    if (headers == NULL)
        return -1;
    PyObject *via = record_via(headers);
    Py_DECREF(headers);
    return entry_text(e, T_VIA, via);
}

/* What both ways of recording start with: the clock's reading and the time since `began`, and the
 * request's method, host (`host`, a new reference the entry takes) and path. */
static int entry_begin(entry_t *e, PyObject *began, PyObject *request, PyObject *host) {
    memset(e, 0, sizeof *e);
    int64_t since;
    if (entry_text(e, T_HOST, host) < 0 || entry_int(began, &since, false) < 0)
        return -1;
    e->time = now_ns();
    e->total_ns = e->time - since;
    if (entry_text(e, T_METHOD, attr(request, r_method, &at_method)) < 0)
        return -1;
    return entry_text(e, T_PATH, attr(request, r_path, &at_path));
}

/* Ring.served(ready, request, host, served, counts, began) -> None: the record of a call serve() answered
 * (dream.substrate.front.Front._served), from what the fast path holds: request is the HTTP server's
 * parsed request (method and path str, body bytes, headers as received), host the raw Host header
 * (bytes), served serve()'s result (status, headers, body, instantiate_ns, wasm_ns, pages, problems),
 * counts its host calls (dict or None), began the clock's ns when the request reached the front. The
 * Python twin is Front._record_served. */
static PyObject *ring_served(ring_t *ring, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6)
        return PyErr_Format(PyExc_TypeError, "served() takes 6 arguments (%zd given)", nargs);
    PyObject *ready = args[0], *request = args[1], *host = args[2], *served = args[3], *counts = args[4];
    if (!PyBytes_Check(host) || !PyTuple_Check(served) || PyTuple_GET_SIZE(served) != 7)
        return PyErr_Format(PyExc_TypeError, "served(): host is bytes and served serve()'s 7-tuple");
    entry_t e;
    if (entry_begin(&e, args[5], request, Py_NewRef(host)) < 0 ||
        entry_int(PyTuple_GET_ITEM(served, 0), &e.status, false) < 0 ||
        entry_int(PyTuple_GET_ITEM(served, 3), &e.instantiate_ns, false) < 0 ||
        entry_int(PyTuple_GET_ITEM(served, 4), &e.wasm_ns, false) < 0 ||
        entry_int(PyTuple_GET_ITEM(served, 5), &e.pages, false) < 0 ||
        entry_len(Py_NewRef(PyTuple_GET_ITEM(served, 2)), &e.bytes_out) < 0 ||
        entry_common(&e, ready, request, r_headers) < 0) {
        entry_clear(&e);
        return NULL;
    }
    entry_counts(&e, counts);
    ring_keep(ring, &e);
    Py_RETURN_NONE;
}

/* Ring.record(ready, request, status, result, began) -> None: the record of a call made another way, from
 * its HttpRequest and HttpResponse (result None: a call that failed, with no figures and no body out).
 * The Python twin is Front._record. */
static PyObject *ring_record(ring_t *ring, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5)
        return PyErr_Format(PyExc_TypeError, "record() takes 5 arguments (%zd given)", nargs);
    PyObject *ready = args[0], *request = args[1], *result = args[3];
    entry_t e;
    if (entry_begin(&e, args[4], request, PyObject_GetAttr(request, r_host)) < 0 ||
        entry_int(args[2], &e.status, false) < 0 || entry_common(&e, ready, request, r_raw_headers) < 0)
        goto failed;
    if (result != Py_None) {
        PyObject *counts = PyObject_GetAttr(result, r_host_calls);
        if (counts == NULL)
            goto failed;
        entry_counts(&e, counts);
        Py_DECREF(counts);
        if (entry_int(PyObject_GetAttr(result, r_instantiate_ns), &e.instantiate_ns, true) < 0 ||
            entry_int(PyObject_GetAttr(result, r_wasm_ns), &e.wasm_ns, true) < 0 ||
            entry_int(PyObject_GetAttr(result, r_pages), &e.pages, true) < 0 ||
            entry_len(PyObject_GetAttr(result, r_body), &e.bytes_out) < 0)
            goto failed;
    }
    ring_keep(ring, &e);
    Py_RETURN_NONE;
failed:
    entry_clear(&e);
    return NULL;
}

/* A slot's record as the tuple dream.http.records reads: (seq, time, method, host, path, status,
 * total_ns, instantiate_ns, wasm_ns, pages, host_calls, bytes_in, bytes_out, function, project, via). */
static PyObject *slot_record(const slot_t *slot) {
    PyObject *calls;
    if (slot->counted == 2) {
        calls = Py_NewRef(slot->calls);
    } else if (slot->counted == 1) {
        calls = PyDict_New();
        for (int i = 0; calls != NULL && i < H_COUNT; i++) {
            if (slot->counts[i] == 0)
                continue;
            PyObject *n = PyLong_FromUnsignedLong(slot->counts[i]);
            if (n == NULL || PyDict_SetItem(calls, host_name_objects[i], n) < 0)
                Py_CLEAR(calls);
            Py_XDECREF(n);
        }
    } else {
        calls = Py_NewRef(Py_None);
    }
    if (calls == NULL)
        return NULL;
    const char *at[T_COUNT], *texts = (const char *)(slot + 1);
    for (int i = 0; i < T_COUNT; i++) {
        at[i] = texts;
        texts += slot->len[i];
    }
#define TEXT(i) PyUnicode_DecodeUTF8(at[i], (Py_ssize_t)slot->len[i], "surrogatepass")
    return Py_BuildValue("(KLNNNiLLLkNLLOON)", (unsigned long long)slot->seq, (long long)slot->time, TEXT(T_METHOD),
                         TEXT(T_HOST), TEXT(T_PATH), (int)slot->status, (long long)slot->total_ns,
                         (long long)slot->instantiate_ns, (long long)slot->wasm_ns, (unsigned long)slot->pages, calls,
                         (long long)slot->bytes_in, (long long)slot->bytes_out, slot->function, slot->project,
                         TEXT(T_VIA));
#undef TEXT
}

/* Ring.read(after, limit) -> [record tuple, ...]: the records numbered above `after`, oldest first, at
 * most `limit` (the newest of them). */
static PyObject *ring_read(ring_t *ring, PyObject *args) {
    unsigned long long after;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "Kn", &after, &limit))
        return NULL;
    uint64_t last = ring->seq, first = after + 1;
    if (last >= ring->size && first < last - ring->size + 1)
        first = last - ring->size + 1;
    if (limit <= 0)
        return PyList_New(0);
    if (last >= (uint64_t)limit && first < last - (uint64_t)limit + 1)
        first = last - (uint64_t)limit + 1;
    PyObject *out = PyList_New(0);
    slot_t *copy = PyMem_Malloc(ring->slot_bytes);
    if (out == NULL || copy == NULL) {
        Py_XDECREF(out);
        PyMem_Free(copy);
        return PyErr_NoMemory();
    }
    for (uint64_t seq = first; seq <= last && seq > after; seq++) {
        /* Making the values may run the collector, and with it other threads that record: copy first,
         * and skip a record that a newer one has taken the place of meanwhile. */
        slot_t *slot = ring_slot(ring, seq);
        if (slot->seq != seq)
            continue;
        memcpy(copy, slot, ring->slot_bytes);
        Py_INCREF(copy->function);
        Py_INCREF(copy->project);
        Py_XINCREF(copy->calls);
        PyObject *record = slot_record(copy);
        Py_DECREF(copy->function);
        Py_DECREF(copy->project);
        Py_XDECREF(copy->calls);
        if (record == NULL || PyList_Append(out, record) < 0) {
            Py_XDECREF(record);
            Py_DECREF(out);
            PyMem_Free(copy);
            return NULL;
        }
        Py_DECREF(record);
    }
    PyMem_Free(copy);
    return out;
}

/* Ring(size, method_bytes, host_bytes, path_bytes, via_bytes): `size` slots, with room for that many bytes
 * of UTF-8 of each text (at least 4: a cut text ends in a 3-byte mark). */
static PyObject *ring_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    Py_ssize_t size, caps[T_COUNT];
    static char *keywords[] = {"size", "method_bytes", "host_bytes", "path_bytes", "via_bytes", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nnnnn", keywords, &size, &caps[0], &caps[1], &caps[2], &caps[3]))
        return NULL;
    if (size < 1)
        return PyErr_Format(PyExc_ValueError, "a ring holds at least one record, not %zd", size);
    size_t at = sizeof(slot_t);
    for (int i = 0; i < T_COUNT; i++) {
        if (caps[i] < 4 || caps[i] > UINT16_MAX)
            return PyErr_Format(PyExc_ValueError, "a record's text holds 4 to %d bytes, not %zd", UINT16_MAX, caps[i]);
        at += (size_t)caps[i];
    }
    size_t slot_bytes = (at + 63) & ~(size_t)63; /* each slot starts a cache line */
    if ((size_t)size > SIZE_MAX / slot_bytes)
        return PyErr_NoMemory();
    ring_t *ring = (ring_t *)type->tp_alloc(type, 0);
    if (ring == NULL)
        return NULL;
    /* The kernel's zeroed pages, page-aligned: a large ring costs no memory until records reach it. */
    void *slots = mmap(NULL, (size_t)size * slot_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) {
        Py_DECREF(ring);
        return PyErr_Format(PyExc_MemoryError, "cannot allocate a ring of %zd records of %zu bytes", size, slot_bytes);
    }
    ring->slots = slots;
    ring->size = (size_t)size;
    ring->slot_bytes = slot_bytes;
    for (int i = 0; i < T_COUNT; i++)
        ring->cap[i] = (size_t)caps[i];
    return (PyObject *)ring;
}

static void ring_dealloc(ring_t *ring) {
    if (ring->slots != NULL) {
        for (size_t i = 0; i < ring->size; i++) {
            slot_t *slot = (slot_t *)(ring->slots + i * ring->slot_bytes);
            Py_XDECREF(slot->function);
            Py_XDECREF(slot->project);
            Py_XDECREF(slot->calls);
        }
        munmap(ring->slots, ring->size * ring->slot_bytes);
    }
    Py_TYPE(ring)->tp_free((PyObject *)ring);
}

static PyObject *ring_get_seq(ring_t *ring, void *unused) {
    return PyLong_FromUnsignedLongLong(ring->seq);
}

static PyObject *ring_get_size(ring_t *ring, void *unused) {
    return PyLong_FromSize_t(ring->size);
}

static PyObject *ring_get_slot_bytes(ring_t *ring, void *unused) {
    return PyLong_FromSize_t(ring->slot_bytes);
}

static PyMethodDef ring_methods[] = {
    {"served", (PyCFunction)(void (*)(void))ring_served, METH_FASTCALL,
     "served(ready, request, host, served, counts, began): the record of a call serve() answered"},
    {"record", (PyCFunction)(void (*)(void))ring_record, METH_FASTCALL,
     "record(ready, request, status, result, began): the record of a call from its HttpRequest and HttpResponse"},
    {"read", (PyCFunction)ring_read, METH_VARARGS, "read(after, limit) -> the records numbered above `after`"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ring_getset[] = {
    {"seq", (getter)ring_get_seq, NULL, "the last record's number (0: none yet)", NULL},
    {"size", (getter)ring_get_size, NULL, "records kept", NULL},
    {"slot_bytes", (getter)ring_get_slot_bytes, NULL, "bytes of one record's slot", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ring_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "dream.wasm._nativecall.Ring",
    .tp_doc = "The request inspector's ring of fixed-size records; see recordring.c.",
    .tp_basicsize = sizeof(ring_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = ring_new,
    .tp_dealloc = (destructor)ring_dealloc,
    .tp_methods = ring_methods,
    .tp_getset = ring_getset,
};
