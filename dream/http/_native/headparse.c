/* The usual request head, parsed in C: one call instead of llhttp's callbacks into Python.
 *
 * `parse(data, request_type, max_request_line, max_header_line, max_headers)` takes one whole head (the
 * request line, header lines and the blank line, nothing after it) and answers a filled `Request`, or None
 * for any head that is not plainly of the usual shape: the HTTP server then parses it with httptools as
 * before, with every limit, refusal and message of that path. So this parser never refuses anything; it
 * only accepts a strict subset of what llhttp accepts:
 *
 * - a request line `METHOD SP TARGET SP HTTP/1.1 CRLF`, METHOD one of GET HEAD POST PUT PATCH DELETE
 *   OPTIONS, TARGET in origin form (`/` then visible ASCII, no `#`, no `%`, nothing llhttp or a URL parser
 *   treats specially), method and target together within `max_request_line`;
 * - header lines `name:value CRLF`, the name a token, the value visible ASCII and spaces (no tab, no
 *   obs-text), optional spaces before the value and none after it; at most `max_headers` of them, each
 *   within `max_header_line` (name and value);
 * - none of the fields that frame or change the message (Content-Length, Transfer-Encoding, Connection,
 *   Expect, Upgrade), and at most one Host.
 *
 * Such a request has no body and keeps the connection alive, as llhttp would say. Names are given lower
 * case, as the Python path gives them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <string.h>

static PyObject *s_method, *s_path, *s_raw_path, *s_query, *s_headers;
static PyObject *methods[7];
static const char *const method_names[7] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

/* RFC 9110 token characters. */
static bool token[256];
/* Target characters taken here: visible ASCII but for those a URL parser or llhttp treats specially. */
static bool target_char[256];

static void tables(void) {
    for (int c = 0; c < 256; c++) {
        token[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        target_char[c] = c > 0x20 && c < 0x7f && strchr("#%\"<>\\^`{|}[];", c) == NULL;
    }
}

/* The field names this parser leaves to the Python path (lower case), and Host. */
static bool is_named(const char *low, Py_ssize_t n, const char *name) {
    return (size_t)n == strlen(name) && memcmp(low, name, (size_t)n) == 0;
}

static bool framing(const char *low, Py_ssize_t n) {
    return is_named(low, n, "content-length") || is_named(low, n, "transfer-encoding") ||
           is_named(low, n, "connection") || is_named(low, n, "expect") || is_named(low, n, "upgrade");
}

static int set(PyObject *request, PyObject *name, PyObject *value) {
    if (value == NULL)
        return -1;
    int rc = PyObject_SetAttr(request, name, value);
    Py_DECREF(value);
    return rc;
}

/* One header field of a head. */
typedef struct {
    const char *name, *value;
    Py_ssize_t name_len, value_len;
} Field;

#define NAME_ROOM 256 /* a longer name is not of the usual shape */

/* The header line at `at` of the usual shape (a token name, optional spaces, a value of visible ASCII
 * and spaces with none at its end, CRLF; `end` is past the head's blank line) into `f`, its name lower
 * case into `low` (NAME_ROOM bytes): the position after it, or NULL. */
static const char *next_field(const char *at, const char *end, Field *f, char *low) {
    const char *name = at;
    while (at < end && token[(unsigned char)*at])
        at++;
    Py_ssize_t name_len = at - name;
    if (name_len == 0 || name_len >= NAME_ROOM || at >= end || *at != ':')
        return NULL;
    at++;
    while (at < end && *at == ' ')
        at++;
    const char *value = at;
    while (at < end && *at >= 0x20 && *at < 0x7f)
        at++;
    Py_ssize_t value_len = at - value;
    if (at + 1 >= end || at[0] != '\r' || at[1] != '\n')
        return NULL; /* a tab, obs-text, a control character or a bare LF */
    if (value_len > 0 && value[value_len - 1] == ' ')
        return NULL;
    for (Py_ssize_t i = 0; i < name_len; i++) {
        char c = name[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    *f = (Field){name, value, name_len, value_len};
    return at + 2;
}

/* A Content-Length value of the usual shape (1 to 15 digits), or -1. */
static long long length_of(const Field *f) {
    if (f->value_len == 0 || f->value_len > 15)
        return -1;
    long long n = 0;
    for (Py_ssize_t i = 0; i < f->value_len; i++) {
        if (f->value[i] < '0' || f->value[i] > '9')
            return -1;
        n = n * 10 + (f->value[i] - '0');
    }
    return n;
}

/* The usual request line (`METHOD SP TARGET SP HTTP/1.1 CRLF`, see above) at the start of `data`, whose
 * blank line starts at `end`: the method's index, the target, and the position after the line; NULL
 * when it is not of the usual shape. */
static const char *request_line(const char *data, Py_ssize_t size, const char *end, long max_request_line,
                                int *method, const char **target_at, Py_ssize_t *target_size) {
    const char *space = memchr(data, ' ', (size_t)(size < 8 ? size : 8));
    if (space == NULL)
        return NULL;
    *method = -1;
    for (int i = 0; i < 7; i++)
        if (is_named(data, space - data, method_names[i]))
            *method = i;
    if (*method < 0)
        return NULL;
    const char *target = space + 1;
    const char *at = target;
    while (at < end && target_char[(unsigned char)*at])
        at++;
    Py_ssize_t target_len = at - target;
    if (target_len == 0 || target[0] != '/' || (target_len > 1 && target[1] == '/'))
        return NULL; /* not origin form (or one a URL parser reads as a network path) */
    if ((space - data) + target_len > max_request_line)
        return NULL;
    if (end - at < 10 || memcmp(at, " HTTP/1.1\r\n", 11) != 0)
        return NULL;
    *target_at = target;
    *target_size = target_len;
    return at + 11;
}

/* The usual status line (`HTTP/1.1 SSS reason CRLF`, a status from 200 to 599) and the end of the head
 * (past its blank line): the position after the status line, or NULL. */
static const char *status_line(const char *start, Py_ssize_t size, int *status, const char **head_end) {
    if (size < 19 || memcmp(start, "HTTP/1.1 ", 9) != 0 || start[9] < '2' || start[9] > '5' ||
        start[10] < '0' || start[10] > '9' || start[11] < '0' || start[11] > '9' || start[12] != ' ')
        return NULL;
    *status = (start[9] - '0') * 100 + (start[10] - '0') * 10 + (start[11] - '0');
    const char *at = start + 13;
    const char *end = start + size;
    while (at < end && *at >= 0x20 && *at < 0x7f)
        at++; /* the reason phrase */
    if (end - at < 4 || at[0] != '\r' || at[1] != '\n')
        return NULL;
    at += 2;
    for (const char *p = at - 2; p + 4 <= end; p++) {
        if (p[0] == '\r' && p[1] == '\n' && p[2] == '\r' && p[3] == '\n') {
            *head_end = p + 4;
            return at;
        }
    }
    return NULL;
}

/* The headers, or NULL with no error set when the head is not of the usual shape. A request's head may
 * not hold a framing field; a response's (`length` not NULL) must hold one Content-Length, given there. */
static PyObject *header_fields(const char *at, const char *end, long max_header_line, long max_headers,
                               long long *length) {
    PyObject *headers = PyList_New(0);
    if (headers == NULL)
        return NULL;
    bool host = false;
    char low[NAME_ROOM];
    Field f;
    while (at < end) {
        if (at[0] == '\r') {
            if (at + 2 != end || at[1] != '\n')
                goto unusual;
            break; /* the blank line, the head's last */
        }
        at = next_field(at, end, &f, low);
        if (at == NULL)
            goto unusual;
        if (PyList_GET_SIZE(headers) >= max_headers || f.name_len + f.value_len > max_header_line)
            goto unusual; /* over a limit: refused by the Python path, with its message */
        if (length != NULL && is_named(low, f.name_len, "content-length")) {
            if (*length >= 0 || (*length = length_of(&f)) < 0)
                goto unusual;
        } else if (framing(low, f.name_len))
            goto unusual;
        else if (length == NULL && is_named(low, f.name_len, "host")) {
            if (host)
                goto unusual; /* two Host fields: refused by the Python path */
            host = true;
        }
        PyObject *pair = Py_BuildValue("(y#y#)", low, f.name_len, f.value, f.value_len);
        if (pair == NULL || PyList_Append(headers, pair) < 0) {
            Py_XDECREF(pair);
            Py_DECREF(headers);
            return NULL;
        }
        Py_DECREF(pair);
    }
    return headers;
unusual:
    Py_DECREF(headers);
    return NULL;
}

static PyObject *py_parse(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5)
        return PyErr_Format(PyExc_TypeError, "parse() takes 5 arguments (%zd given)", nargs);
    if (!PyBytes_Check(args[0]))
        return PyErr_Format(PyExc_TypeError, "parse(): the head is bytes");
    PyObject *type = args[1];
    long max_request_line = PyLong_AsLong(args[2]);
    long max_header_line = PyLong_AsLong(args[3]);
    long max_headers = PyLong_AsLong(args[4]);
    if (PyErr_Occurred())
        return NULL;
    const char *data = PyBytes_AS_STRING(args[0]);
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (size < 4 || memcmp(data + size - 4, "\r\n\r\n", 4) != 0)
        Py_RETURN_NONE;
    const char *end = data + size - 2; /* the blank line's CRLF */
    int method;
    const char *target;
    Py_ssize_t target_len;
    const char *at = request_line(data, size, end, max_request_line, &method, &target, &target_len);
    if (at == NULL)
        Py_RETURN_NONE;

    PyObject *headers = header_fields(at, end + 2, max_header_line, max_headers, NULL);
    if (headers == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    const char *query = memchr(target, '?', (size_t)target_len);
    Py_ssize_t path_len = query != NULL ? query - target : target_len;
    PyObject *request = PyObject_CallNoArgs(type);
    if (request == NULL) {
        Py_DECREF(headers);
        return NULL;
    }
    if (PyObject_SetAttr(request, s_method, methods[method]) < 0 ||
        set(request, s_raw_path, PyBytes_FromStringAndSize(target, path_len)) < 0 ||
        set(request, s_path, PyUnicode_DecodeASCII(target, path_len, "strict")) < 0 ||
        (query != NULL && set(request, s_query, PyBytes_FromStringAndSize(query + 1, target_len - path_len - 1)) < 0) ||
        PyObject_SetAttr(request, s_headers, headers) < 0) {
        Py_DECREF(headers);
        Py_DECREF(request);
        return NULL;
    }
    Py_DECREF(headers);
    return request; /* body b"", HTTP/1.1, keep-alive: a new Request's own values */
}

/* parse_response(data) -> (status, headers, body), or None: `data` is exactly one whole response of the
 * usual shape (`HTTP/1.1 SSS reason CRLF`, a status from 200 to 599, header lines as a request's, one
 * Content-Length and no other framing field, then that many bytes of body and nothing after them), which
 * keeps the connection alive. Anything else (a HEAD's answer, a 1xx, chunks, a close, a body still to
 * come) is None: the caller's httptools parser takes it. */
static PyObject *py_parse_response(PyObject *self, PyObject *data) {
    if (!PyBytes_Check(data))
        return PyErr_Format(PyExc_TypeError, "parse_response(): the data is bytes");
    const char *start = PyBytes_AS_STRING(data);
    Py_ssize_t size = PyBytes_GET_SIZE(data);
    const char *end = start + size;
    int status;
    const char *body;
    const char *at = status_line(start, size, &status, &body);
    if (at == NULL)
        Py_RETURN_NONE;
    long long length = -1;
    PyObject *headers = header_fields(at, body, 1L << 30, 1L << 30, &length);
    if (headers == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(Py_None);
    if (length < 0 || (long long)(end - body) != length || status == 204 || status == 304) {
        Py_DECREF(headers);
        Py_RETURN_NONE;
    }
    PyObject *out = Py_BuildValue("(iNy#)", status, headers, body, (Py_ssize_t)length);
    return out;
}

static PyMethodDef module_methods[] = {
    {"parse", (PyCFunction)(void (*)(void))py_parse, METH_FASTCALL,
     "parse(head, Request, max_request_line, max_header_line, max_headers) -> a Request, or None: see the C source"},
    {"parse_response", py_parse_response, METH_O,
     "parse_response(data) -> (status, headers, body), or None: see the C source"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_headparse", NULL, -1, module_methods};

/* A name to intern once, into its slot. */
typedef struct {
    PyObject **slot;
    const char *text;
} Name;

static int intern_all(const Name *names, size_t count) {
    for (size_t i = 0; i < count; i++) {
        *names[i].slot = PyUnicode_InternFromString(names[i].text);
        if (*names[i].slot == NULL)
            return -1;
    }
    return 0;
}

/* What the parsers need: the names they set, the methods, the character tables (-1 on error). */
static int set_up(void) {
    static const Name names[] = {
        {&s_method, "method"},   {&s_path, "path"}, {&s_raw_path, "raw_path"}, {&s_query, "query"},
        {&s_headers, "headers"},
    };
    if (intern_all(names, sizeof names / sizeof names[0]) < 0)
        return -1;
    for (int i = 0; i < 7; i++) {
        methods[i] = PyUnicode_InternFromString(method_names[i]);
        if (methods[i] == NULL)
            return -1;
    }
    tables();
    return 0;
}

PyMODINIT_FUNC PyInit__headparse(void) {
    if (set_up() < 0)
        return NULL;
    return PyModule_Create(&module);
}
