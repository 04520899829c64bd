/*
 * The bulk path's per-row work in compiled code (analyzer/engine/distinct.py holds the same in
 * Python, and the documentation):
 *
 *   distinct_ranges: distinct byte ranges of one buffer, numbered in order of first sight;
 *   digit_forms: the same for the G4 records of a chunk read with every digit of their message
 *                as '0' (the records a planner may decide once per form);
 *   newline_offsets: the offset of every newline byte of a buffer's first bytes;
 *   line_heads: what the first bytes of each line say (a G4 or backup-extension stamp, a
 *               level word after it, a header start of another layout) and its stamp's time;
 *   Reports: a match handler for Hyperscan's Python binding that keeps each report's end and
 *            expression as one int64, where a Python handler costs a frame per report.
 *
 * Keying.
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
#include <stddef.h>
#include <string.h>

/* Bumped when the interface changes: the Python side ignores a module built from older
 * source (an editable install not rebuilt after a pull). */
#define DISTINCT_VERSION 5

static inline uint64_t fold_multiply(uint64_t a, uint64_t b) {
#ifdef __SIZEOF_INT128__
    __uint128_t product = (__uint128_t)a * b;
    return (uint64_t)product ^ (uint64_t)(product >> 64);
#else
    uint64_t product = a * b;
    return product ^ (product >> 32);
#endif
}

/* Four lanes of 8 bytes each take a 32-byte stripe, so the multiplications of a long row do not
 * wait on one another (one lane chained every word on the last: 2.6 GB/s over a dense chunk,
 * its records compared byte for byte too); shorter rows and the rest take the one lane. */
static uint64_t hash_range(const uint8_t *bytes, size_t length, uint64_t seed) {
    uint64_t state = seed ^ fold_multiply((uint64_t)length ^ 0x9E3779B97F4A7C15ULL,
                                          0xA0761D6478BD642FULL);
    if (length >= 32) {
        uint64_t lane0 = state, lane1 = state ^ 0x243F6A8885A308D3ULL;
        uint64_t lane2 = state ^ 0x13198A2E03707344ULL, lane3 = state ^ 0xA4093822299F31D0ULL;
        do {
            uint64_t word0, word1, word2, word3;
            memcpy(&word0, bytes, 8);
            memcpy(&word1, bytes + 8, 8);
            memcpy(&word2, bytes + 16, 8);
            memcpy(&word3, bytes + 24, 8);
            lane0 = fold_multiply(lane0 ^ word0, 0xE7037ED1A0B428DBULL);
            lane1 = fold_multiply(lane1 ^ word1, 0x8EBC6AF09C88C6E3ULL);
            lane2 = fold_multiply(lane2 ^ word2, 0x589965CC75374CC3ULL);
            lane3 = fold_multiply(lane3 ^ word3, 0x1D8E4E27C47D124FULL);
            bytes += 32;
            length -= 32;
        } while (length >= 32);
        state = fold_multiply(lane0 ^ lane2, 0xE7037ED1A0B428DBULL)
                ^ fold_multiply(lane1 ^ lane3 ^ state, 0xA0761D6478BD642FULL);
    }
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

/* A G4 record (level, thread, prefix, message) ends its header at its third space: the offset
 * of its message in the range, or -1 (a backup-extension record, or fewer than three spaces). */
static Py_ssize_t message_at(const uint8_t *bytes, size_t length) {
    if (length == 0 || bytes[0] == '[')
        return -1;
    size_t at = 0;
    for (int spaces = 0; spaces < 3; spaces++) {
        const uint8_t *found = memchr(bytes + at, ' ', length - at);
        if (found == NULL)
            return -1;
        at = (size_t)(found - bytes) + 1;
    }
    return (Py_ssize_t)at;
}

static inline uint8_t digit_as_zero(uint8_t byte) {
    return (byte >= '1' && byte <= '9') ? '0' : byte;
}

/* Both ranges have one length and one message offset. */
static int same_form(const uint8_t *a, const uint8_t *b, size_t length, size_t message) {
    if (memcmp(a, b, message) != 0)
        return 0;
    for (size_t at = message; at < length; at++)
        if (digit_as_zero(a[at]) != digit_as_zero(b[at]))
            return 0;
    return 1;
}

/* digit_forms(region, starts, ends, tags, wanted, unwanted, seed, probe_budget)
 *   -> (forms, messages) as int64 bytes, one per range, or None when the probe budget ran out.
 * forms[i]: -1 when range i is no G4 record or its tags lack every bit of `wanted` or hold one
 * of `unwanted`; else the number of its form (header as it is, message with each digit read as
 * '0'), in order of first sight. messages[i]: the message's offset in the range, or -1. */
static PyObject *digit_forms(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer region, starts, ends, tags;
    unsigned int wanted, unwanted;
    unsigned long long seed;
    Py_ssize_t probe_budget;
    if (!PyArg_ParseTuple(args, "y*y*y*y*IIKn", &region, &starts, &ends, &tags, &wanted,
                          &unwanted, &seed, &probe_budget))
        return NULL;
    PyObject *result = NULL, *forms = NULL, *messages = NULL;
    int64_t *slots = NULL, *firsts = NULL;
    uint64_t *slot_hashes = NULL;
    uint8_t *scratch = NULL;
    if (check_ranges(&region, &starts, &ends, &tags) < 0)
        goto done;
    Py_ssize_t rows = starts.len / 8;
    size_t capacity = 16, longest = 1;
    const int64_t *start = starts.buf, *end = ends.buf;
    for (Py_ssize_t row = 0; row < rows; row++)
        if ((size_t)(end[row] - start[row]) > longest)
            longest = (size_t)(end[row] - start[row]);
    while (capacity < (size_t)rows * 2)
        capacity <<= 1;
    slots = PyMem_Malloc(capacity * sizeof(int64_t));
    slot_hashes = PyMem_Malloc(capacity * sizeof(uint64_t));
    firsts = PyMem_Malloc((rows ? rows : 1) * sizeof(int64_t));
    scratch = PyMem_Malloc(longest);
    forms = PyBytes_FromStringAndSize(NULL, rows * 8);
    messages = PyBytes_FromStringAndSize(NULL, rows * 8);
    if (!slots || !slot_hashes || !firsts || !scratch || !forms || !messages) {
        PyErr_NoMemory();
        goto done;
    }
    memset(slots, 0xff, capacity * sizeof(int64_t));
    int64_t *form_of = (int64_t *)PyBytes_AS_STRING(forms);
    int64_t *message_of = (int64_t *)PyBytes_AS_STRING(messages);
    const uint8_t *data = region.buf, *tag = tags.buf;
    size_t mask = capacity - 1, probes = 0, budget = probe_budget < 0 ? 0 : (size_t)probe_budget;
    int64_t distinct = 0;
    int gave_up = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = 0; row < rows && !gave_up; row++) {
        const uint8_t *bytes = data + start[row];
        size_t length = (size_t)(end[row] - start[row]);
        Py_ssize_t message = message_at(bytes, length);
        message_of[row] = message;
        form_of[row] = -1;
        if (message < 0 || !(tag[row] & wanted) || (tag[row] & unwanted))
            continue;
        memcpy(scratch, bytes, (size_t)message);
        for (size_t at = (size_t)message; at < length; at++)
            scratch[at] = digit_as_zero(bytes[at]);
        uint64_t hash = hash_range(scratch, length, (uint64_t)seed);
        size_t at = (size_t)hash & mask;
        for (;;) {
            int64_t form = slots[at];
            if (form < 0) {
                form = distinct++;
                slots[at] = form;
                slot_hashes[at] = hash;
                firsts[form] = row;
                form_of[row] = form;
                break;
            }
            if (slot_hashes[at] == hash) {
                int64_t first = firsts[form];
                if ((size_t)(end[first] - start[first]) == length
                        && message_of[first] == message
                        && same_form(data + start[first], bytes, length, (size_t)message)) {
                    form_of[row] = form;
                    break;
                }
            }
            if (++probes > budget) {
                gave_up = 1;
                break;
            }
            at = (at + 1) & mask;
        }
    }
    Py_END_ALLOW_THREADS
    result = gave_up ? Py_NewRef(Py_None) : Py_BuildValue("(OO)", forms, messages);
done:
    Py_XDECREF(forms);
    Py_XDECREF(messages);
    PyMem_Free(slots);
    PyMem_Free(slot_hashes);
    PyMem_Free(firsts);
    PyMem_Free(scratch);
    PyBuffer_Release(&region);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&ends);
    PyBuffer_Release(&tags);
    return result;
}

/* newline_offsets(buffer, size) -> the offsets of the newline bytes of buffer[:size], as bytes
 * of int64. memchr jumps from one newline to the next (a log line is ~100 bytes), where
 * numpy compared every byte into a boolean array and then searched it: 4 MB in 0.4 ms
 * instead of 1.7-2 ms, once per chunk in every planner. */
static PyObject *newline_offsets(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer buffer;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "y*n", &buffer, &size))
        return NULL;
    PyObject *result = NULL;
    int64_t *found = NULL;
    if (size < 0 || size > buffer.len) {
        PyErr_Format(PyExc_ValueError, "size %zd outside the buffer (%zd bytes)", size,
                     buffer.len);
        goto done;
    }
    Py_ssize_t capacity = size / 64 + 16, count = 0;
    found = PyMem_Malloc((size_t)capacity * sizeof(int64_t));
    if (found == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    const char *start = buffer.buf, *at = start, *end = start + size;
    while (at < end) {
        const char *newline = memchr(at, '\n', (size_t)(end - at));
        if (newline == NULL)
            break;
        if (count == capacity) {
            capacity *= 2;
            int64_t *grown = PyMem_Realloc(found, (size_t)capacity * sizeof(int64_t));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            found = grown;
        }
        found[count++] = newline - start;
        at = newline + 1;
    }
    result = PyBytes_FromStringAndSize((const char *)found, count * 8);
done:
    PyMem_Free(found);
    PyBuffer_Release(&buffer);
    return result;
}

/* line_heads(region, starts, first_year, last_year) -> (flags, micros): for the line starting
 * at each offset, what its first HEAD_WINDOW bytes say, as one byte of HEAD_* bits, and the
 * POSIX microseconds of its stamp (0 where HEAD_VALID is not set). The bulk planner asked
 * numpy the same with a gathered 40-byte window per line, a template test per layout, a
 * masked word compare per level and ~20 column passes over the stamps' digits: 2.4 ms for a
 * dense chunk's 18,000 lines, here one pass over the bytes each line starts with.
 * analyzer/engine/heads.py holds the same in numpy (the reference the tests compare with). */
enum {
    HEAD_G4 = 1,          /* DDDD-DD-DDTDD:DD:DD.DDDDDDZ followed by a space */
    HEAD_DASH = 2,        /* DDDD-DD-DD DD:DD:DD.DDDDDD followed by " [" */
    HEAD_LEVEL = 4,       /* VERBOSE, INFO, WARNING or ERROR and a space at byte 28 */
    HEAD_VALID = 8,       /* a G4 or dash stamp whose date and time exist (years given) */
    HEAD_DASH_SPACE = 16, /* DDDD-DD-DD DD:DD:DD */
    HEAD_SLASH_SPACE = 32, /* DDDD/DD/DD DD:DD:DD */
    HEAD_MAY_OPEN = 64,   /* a digit, a non-ASCII byte or a syslog month ("Jan ") first */
};
#define HEAD_WINDOW 40
#define LEVEL_AT 28

static inline int is_digit(uint8_t byte) { return (uint8_t)(byte - '0') <= 9; }
static inline int is_upper(uint8_t byte) { return (uint8_t)(byte - 'A') < 26; }
static inline int is_lower(uint8_t byte) { return (uint8_t)(byte - 'a') < 26; }

static inline int64_t number_at(const uint8_t *bytes, int width) {
    int64_t value = 0;
    for (int place = 0; place < width; place++)
        value = value * 10 + (bytes[place] - '0');
    return value;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t year, int64_t month, int64_t day) {
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

static const uint8_t month_days[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* The date of the stamp before (a log's lines share a date for hours): its ten bytes and its
 * day number, -1 for a date that does not exist, -2 before the first stamp. */
typedef struct {
    uint8_t date[10];
    int64_t days;
} LastDate;

static int64_t date_days(const uint8_t *w, int64_t first_year, int64_t last_year,
                         LastDate *last) {
    if (last->days != -2 && memcmp(w, last->date, 10) == 0)
        return last->days;
    int64_t year = number_at(w, 4), month = number_at(w + 5, 2), day = number_at(w + 8, 2);
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int exists = year >= first_year && year <= last_year && month >= 1 && month <= 12
                 && day >= 1 && day <= month_days[month] + (month == 2 && leap);
    memcpy(last->date, w, 10);
    last->days = exists ? days_from_civil(year, month, day) : -1;
    return last->days;
}

/* The stamp's microseconds, or -1 when its date or time does not exist. */
static int64_t stamp_micros(const uint8_t *w, int64_t first_year, int64_t last_year,
                            LastDate *last) {
    int64_t days = date_days(w, first_year, last_year, last);
    int64_t hour = number_at(w + 11, 2), minute = number_at(w + 14, 2);
    int64_t second = number_at(w + 17, 2), micro = number_at(w + 20, 6);
    if (days == -1 || hour >= 24 || minute >= 60 || second >= 60)
        return -1;
    return (days * 86400 + hour * 3600 + minute * 60 + second) * 1000000 + micro;
}

static uint8_t head_flags(const uint8_t *w, int64_t first_year, int64_t last_year,
                          LastDate *last, int64_t *micros) {
    uint8_t flags = 0;
    *micros = 0;
    uint8_t first = w[0];
    if (is_digit(first) || first >= 0x80
            || (is_upper(first) && is_lower(w[1]) && is_lower(w[2]) && w[3] == ' '))
        flags |= HEAD_MAY_OPEN;
    const uint8_t *level = w + LEVEL_AT;
    if (memcmp(level, "VERBOSE ", 8) == 0 || memcmp(level, "INFO ", 5) == 0
            || memcmp(level, "WARNING ", 8) == 0 || memcmp(level, "ERROR ", 6) == 0)
        flags |= HEAD_LEVEL;
    /* DDDD?DD?DD?DD:DD:DD: the part every dated layout shares */
    if (!(is_digit(w[0]) && is_digit(w[1]) && is_digit(w[2]) && is_digit(w[3])
            && is_digit(w[5]) && is_digit(w[6]) && is_digit(w[8]) && is_digit(w[9])
            && is_digit(w[11]) && is_digit(w[12]) && w[13] == ':' && is_digit(w[14])
            && is_digit(w[15]) && w[16] == ':' && is_digit(w[17]) && is_digit(w[18])))
        return flags;
    int dashes = w[4] == '-' && w[7] == '-';
    if (dashes && w[10] == ' ')
        flags |= HEAD_DASH_SPACE;
    if (w[4] == '/' && w[7] == '/' && w[10] == ' ')
        flags |= HEAD_SLASH_SPACE;
    if (!(dashes && w[19] == '.' && is_digit(w[20]) && is_digit(w[21]) && is_digit(w[22])
            && is_digit(w[23]) && is_digit(w[24]) && is_digit(w[25])))
        return flags;
    if (w[10] == 'T' && w[26] == 'Z' && w[27] == ' ')
        flags |= HEAD_G4;
    else if (w[10] == ' ' && w[26] == ' ' && w[27] == '[')
        flags |= HEAD_DASH;
    else
        return flags;
    int64_t found = stamp_micros(w, first_year, last_year, last);
    if (found >= 0) {
        flags |= HEAD_VALID;
        *micros = found;
    }
    return flags;
}

static PyObject *line_heads(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer region, starts;
    long long first_year, last_year;
    if (!PyArg_ParseTuple(args, "y*y*LL", &region, &starts, &first_year, &last_year))
        return NULL;
    PyObject *result = NULL, *flags = NULL, *micros = NULL;
    if (starts.len % 8) {
        PyErr_SetString(PyExc_ValueError, "starts must be an int64 array");
        goto done;
    }
    Py_ssize_t rows = starts.len / 8;
    const int64_t *start = starts.buf;
    for (Py_ssize_t row = 0; row < rows; row++) {
        if (start[row] < 0 || start[row] > region.len - HEAD_WINDOW) {
            PyErr_Format(PyExc_ValueError, "row %zd: %lld and the %d bytes after it lie "
                         "outside the region", row, (long long)start[row], HEAD_WINDOW);
            goto done;
        }
    }
    flags = PyBytes_FromStringAndSize(NULL, rows);
    micros = PyBytes_FromStringAndSize(NULL, rows * 8);
    if (flags == NULL || micros == NULL)
        goto done;
    uint8_t *flag = (uint8_t *)PyBytes_AS_STRING(flags);
    int64_t *micro = (int64_t *)PyBytes_AS_STRING(micros);
    const uint8_t *bytes = region.buf;
    LastDate last = {{0}, -2};
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t row = 0; row < rows; row++)
        flag[row] = head_flags(bytes + start[row], first_year, last_year, &last, &micro[row]);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(OO)", flags, micros);
done:
    Py_XDECREF(flags);
    Py_XDECREF(micros);
    PyBuffer_Release(&region);
    PyBuffer_Release(&starts);
    return result;
}

/* Reports: called by the binding as handler(id, from, to, flags, context) for each match;
 * keeps to << 16 | id (the expression index fits 16 bits: a scan has a few dozen). */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    int64_t *items;
    Py_ssize_t count;
    Py_ssize_t capacity;
} Reports;

static PyObject *reports_call(PyObject *self, PyObject *const *args, size_t nargsf,
                              PyObject *kwnames) {
    Reports *reports = (Reports *)self;
    if (PyVectorcall_NARGS(nargsf) < 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "Reports(id, from, to, ...) takes positional ints");
        return NULL;
    }
    unsigned long long ident = PyLong_AsUnsignedLongLong(args[0]);
    unsigned long long end = PyLong_AsUnsignedLongLong(args[2]);
    if (PyErr_Occurred())
        return NULL;
    if (ident > 0xFFFF || end > (1ULL << 46)) {
        PyErr_SetString(PyExc_ValueError, "report out of range");
        return NULL;
    }
    if (reports->count == reports->capacity) {
        Py_ssize_t capacity = reports->capacity ? reports->capacity * 2 : 4096;
        int64_t *grown = PyMem_Realloc(reports->items, capacity * sizeof(int64_t));
        if (grown == NULL)
            return PyErr_NoMemory();
        reports->items = grown;
        reports->capacity = capacity;
    }
    reports->items[reports->count++] = (int64_t)(end << 16 | ident);
    Py_RETURN_NONE;
}

static PyObject *reports_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    if (PyTuple_GET_SIZE(args) || (kwargs != NULL && PyDict_GET_SIZE(kwargs))) {
        PyErr_SetString(PyExc_TypeError, "Reports() takes no arguments");
        return NULL;
    }
    Reports *reports = (Reports *)type->tp_alloc(type, 0);
    if (reports != NULL)
        reports->vectorcall = reports_call;
    return (PyObject *)reports;
}

static void reports_dealloc(PyObject *self) {
    PyMem_Free(((Reports *)self)->items);
    Py_TYPE(self)->tp_free(self);
}

static PyObject *reports_take(PyObject *self, PyObject *Py_UNUSED(ignored)) {
    Reports *reports = (Reports *)self;
    PyObject *taken = PyBytes_FromStringAndSize((const char *)reports->items,
                                                reports->count * (Py_ssize_t)sizeof(int64_t));
    if (taken != NULL)
        reports->count = 0;
    return taken;
}

static PyMethodDef reports_methods[] = {
    {"take", reports_take, METH_NOARGS,
     "take() -> the reports kept since the last take, as bytes of int64 (to << 16 | id)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ReportsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "analyzer.engine._distinct.Reports",
    .tp_basicsize = sizeof(Reports),
    .tp_dealloc = reports_dealloc,
    .tp_vectorcall_offset = offsetof(Reports, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Hyperscan match handler keeping each report as to << 16 | id.",
    .tp_methods = reports_methods,
    .tp_new = reports_new,
};

static PyMethodDef methods[] = {
    {"distinct_ranges", distinct_ranges, METH_VARARGS,
     "distinct_ranges(region, starts, ends, tags, seed, probe_budget) -> "
     "(codes, firsts, tags_of) as bytes of int64, int64 and uint8, or None when the probe "
     "budget ran out"},
    {"digit_forms", digit_forms, METH_VARARGS,
     "digit_forms(region, starts, ends, tags, wanted, unwanted, seed, probe_budget) -> "
     "(forms, messages) as int64 bytes, or None"},
    {"newline_offsets", newline_offsets, METH_VARARGS,
     "newline_offsets(buffer, size) -> the offsets of the newline bytes of buffer[:size], as "
     "bytes of int64"},
    {"line_heads", line_heads, METH_VARARGS,
     "line_heads(region, starts, first_year, last_year) -> (flags, micros) as bytes of uint8 "
     "and int64: what the first 40 bytes of each line at starts say (HEAD_* bits)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_definition = {
    PyModuleDef_HEAD_INIT, "_distinct", "The bulk path's per-row work (analyzer/engine/distinct.py).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__distinct(void) {
    if (PyType_Ready(&ReportsType) < 0)
        return NULL;
    PyObject *module = PyModule_Create(&module_definition);
    if (module == NULL)
        return NULL;
    if (PyModule_AddIntConstant(module, "VERSION", DISTINCT_VERSION) < 0
            || PyModule_AddObjectRef(module, "Reports", (PyObject *)&ReportsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
