/*
 * Distinct byte ranges of one buffer, numbered in order of first sight: the keying step of the
 * bulk path (analyzer/engine/distinct.py holds the same in Python, and the documentation).
 *
 * A chunk of a dense log has tens of thousands of candidate rows and a few hundred to a few
 * thousand distinct records. Keying them in Python costs a slice object, a bytes object, a hash
 * and a dictionary step per row (~0.25 us); here it is a hash over the row's bytes and a probe
 * of an open-addressed table (~0.05 us), with no object per row.
 *
 * The input is untrusted log text, so:
 *   - every range is checked against the buffer before any byte is read;
 *   - equality is decided by comparing bytes, never by the hash alone;
 *   - the hash is seeded by the caller (a random seed per process), and the table gives up
 *     after a bounded number of probes: rows built to collide cost at most that budget here,
 *     then the caller keys the chunk in Python (whose dictionary hash is randomised too).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Bumped when the interface changes: the Python side ignores a module built from older
 * source (an editable install not rebuilt after a pull). */
#define DISTINCT_VERSION 1

static inline uint64_t fold_multiply(uint64_t a, uint64_t b) {
#ifdef __SIZEOF_INT128__
    __uint128_t product = (__uint128_t)a * b;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
#else
    uint64_t product = a * b;
    return product ^ (product >> 32);
#endif
}

static uint64_t hash_range(const uint8_t *bytes, size_t length, uint64_t seed) {
    uint64_t state = seed ^ fold_multiply((uint64_t)length ^ 0x9E3779B97F4A7C15ULL,
                                          0xA0761D6478BD642FULL);
    while (length >= 8) {
        uint64_t word;
        memcpy(&word, bytes, 8);
        state = fold_multiply(state ^ word, 0xE7037ED1A0B428DBULL);
        bytes += 8;
        length -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, bytes, length);
    return fold_multiply(state ^ tail ^ 0x8EBC6AF09C88C6E3ULL, 0x589965CC75374CC3ULL);
}

typedef struct {
    const uint8_t *data;
    const int64_t *starts;
    const int64_t *ends;
    const uint8_t *tags;
    Py_ssize_t rows;
    uint64_t seed;
    size_t probe_budget;
    int64_t *code_of;   /* per row */
    int64_t *first_of;  /* per distinct range: its first row */
    uint8_t *tags_of;   /* per distinct range: the OR of its rows' tags */
} Keying;

/* Returns the number of distinct ranges, or -1 when the probe budget ran out. */
static int64_t key_rows(const Keying *job, int64_t *slots, uint64_t *slot_hashes, size_t mask) {
    int64_t distinct = 0;
    size_t probes = 0;
    for (Py_ssize_t row = 0; row < job->rows; row++) {
        const uint8_t *bytes = job->data + job->starts[row];
        size_t length = (size_t)(job->ends[row] - job->starts[row]);
        uint64_t hash = hash_range(bytes, length, job->seed);
        size_t at = (size_t)hash & mask;
        int64_t code;
        for (;;) {
            code = slots[at];
            if (code < 0) {
                code = distinct++;
                slots[at] = code;
                slot_hashes[at] = hash;
                job->first_of[code] = row;
                job->tags_of[code] = 0;
                break;
            }
            if (slot_hashes[at] == hash) {
                int64_t first = job->first_of[code];
                if ((size_t)(job->ends[first] - job->starts[first]) == length
                        && memcmp(job->data + job->starts[first], bytes, length) == 0)
                    break;
            }
            if (++probes > job->probe_budget)
                return -1;
            at = (at + 1) & mask;
        }
        job->code_of[row] = code;
        job->tags_of[code] |= job->tags[row];
    }
    return distinct;
}

static int check_ranges(const Py_buffer *region, const Py_buffer *starts,
                        const Py_buffer *ends, const Py_buffer *tags) {
    if (starts->len % 8 || ends->len != starts->len || tags->len * 8 != starts->len) {
        PyErr_SetString(PyExc_ValueError,
                        "starts and ends must be int64 arrays, tags uint8, of one length");
        return -1;
    }
    const int64_t *start = starts->buf, *end = ends->buf;
    for (Py_ssize_t row = 0; row < starts->len / 8; row++) {
        if (start[row] < 0 || start[row] > end[row] || end[row] > region->len) {
            PyErr_Format(PyExc_ValueError, "row %zd: range %lld..%lld outside the region",
                         row, (long long)start[row], (long long)end[row]);
            return -1;
        }
    }
    return 0;
}

static PyObject *distinct_ranges(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer region, starts, ends, tags;
    unsigned long long seed;
    Py_ssize_t probe_budget;
    if (!PyArg_ParseTuple(args, "y*y*y*y*Kn", &region, &starts, &ends, &tags, &seed,
                          &probe_budget))
        return NULL;
    PyObject *result = NULL, *codes = NULL, *firsts = NULL, *tags_of = NULL;
    int64_t *slots = NULL;
    uint64_t *slot_hashes = NULL;
    if (check_ranges(&region, &starts, &ends, &tags) < 0)
        goto done;
    Py_ssize_t rows = starts.len / 8;
    size_t capacity = 16;
    while (capacity < (size_t)rows * 2)
        capacity <<= 1;
    slots = PyMem_Malloc(capacity * sizeof(int64_t));
    slot_hashes = PyMem_Malloc(capacity * sizeof(uint64_t));
    codes = PyBytes_FromStringAndSize(NULL, rows * 8);
    firsts = PyBytes_FromStringAndSize(NULL, rows * 8);
    tags_of = PyBytes_FromStringAndSize(NULL, rows);
    if (!slots || !slot_hashes || !codes || !firsts || !tags_of) {
        PyErr_NoMemory();
        goto done;
    }
    memset(slots, 0xff, capacity * sizeof(int64_t));  /* every slot empty (-1) */
    Keying job = {
        region.buf, starts.buf, ends.buf, tags.buf, rows, (uint64_t)seed,
        probe_budget < 0 ? 0 : (size_t)probe_budget,
        (int64_t *)PyBytes_AS_STRING(codes), (int64_t *)PyBytes_AS_STRING(firsts),
        (uint8_t *)PyBytes_AS_STRING(tags_of),
    };
    int64_t distinct;
    Py_BEGIN_ALLOW_THREADS
    distinct = key_rows(&job, slots, slot_hashes, capacity - 1);
    Py_END_ALLOW_THREADS
    if (distinct < 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (_PyBytes_Resize(&firsts, distinct * 8) < 0 || _PyBytes_Resize(&tags_of, distinct) < 0)
        goto done;  /* the resize freed the object and set the error */
    result = Py_BuildValue("(OOO)", codes, firsts, tags_of);
done:
    Py_XDECREF(codes);
    Py_XDECREF(firsts);
    Py_XDECREF(tags_of);
    PyMem_Free(slots);
    PyMem_Free(slot_hashes);
    PyBuffer_Release(&region);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&tags);
    return result;
}

static PyMethodDef methods[] = {
    {"distinct_ranges", distinct_ranges, METH_VARARGS,
     "distinct_ranges(region, starts, ends, tags, seed, probe_budget) -> "
     "(codes, firsts, tags_of) as bytes of int64, int64 and uint8, or None when the probe "
     "budget ran out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_distinct", "Distinct byte ranges of a buffer (the bulk path's keys).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__distinct(void) {
    PyObject *module = PyModule_Create(&module_definition);
    if (module != NULL && PyModule_AddIntConstant(module, "VERSION", DISTINCT_VERSION) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
