/* tokenveil.pii._speedups: the per-value loops of a structure scan, in C.
 *
 * Optional. tokenveil/pii/_structure.py holds the reference implementation of both functions in
 * pure Python and uses it whenever this module cannot be imported (no compiler at install time);
 * tests/pii/test_pii_speedups.py checks that both give the same output, value for value.
 *
 * collect(root, root_hint, key_hint, no_hint, caches, cache_max, min_str, min_int)
 *     The scannable leaves of a document in depth-first order, exactly as
 *     _structure._collect_py: (values, parents, steps, hints, keyed, negative) where negative
 *     is a bytes object with one byte per value (1 when its key argues against PII).
 *     Key evidence comes from the Python function key_hint(key, parent_hint), called once per
 *     (key, parent is a person container) and memoised in caches[0|1] (dicts), bounded by
 *     cache_max entries each, as (hint, flags).
 *
 * leaves(data, root_hint, key_hint, no_hint, caches, cache_max, min_str, min_int, max_depth)
 *     collect()'s output for the document json.loads(data) would return, read straight from the
 *     bytes (no dict, list or unscanned string is built), or None when the bytes are anything
 *     this tokenizer does not read exactly as json.loads does; see the function.
 *
 * join(values, hints, negative)
 *     The joined text of a structure scan: values not under negative keys first, then the
 *     others, separated by "\0". Returns (text, starts, joined_hints, order, runs_count), starts
 *     and order as native int64 arrays in bytes (no int object per value; read them through
 *     memoryview(...).cast("q")), order being None when no value is negative (then joined order
 *     == collected order).
 *
 * long_digit_run(buffer)
 *     True when the bytes hold 20 ASCII digits in a row, or "-" and 19 digits: integers that
 *     orjson would read as floats.
 *
 * gates(text, starts, runs_end, triggers, shape_table)
 *     Every gate of _engine's detectors in one call: the text's shape, whether it holds "@",
 *     the digit-run, dotted-quad, DNI/NIE, AA00, IPv6-colon and secret gate hits, and the
 *     segments that may hold a phrase trigger word; None when no gate opens. See the function.
 *
 * bind(raws, parents, steps, min_confidence, wanted, finding_type, step_text, round)
 *     _structure.findings_of with the default paths: every raw finding at or above
 *     min_confidence whose kind is in wanted (a frozenset, or None for all) as a finding_type
 *     instance (kind, start, end, round(confidence, 2), path). Paths are written as loc_path
 *     writes them; keys that are not identifiers are passed to step_text (JSON quoting).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define F_KINDS 1
#define F_NEGATIVE 2
#define F_PERSON 4
#define F_DECIDES 8 /* the key alone can decide a finding: the value goes to `keyed` */

typedef struct {
    PyObject *values, *parents, *steps, *hints, *keyed;
    char *neg;
    Py_ssize_t neg_len, neg_cap;
    PyObject *key_hint;
    PyObject *caches[2];
    Py_ssize_t cache_max;
    PyObject *no_hint;
    int no_hint_flags;
    Py_ssize_t min_str;
    long long min_int;
} State;

static PyObject *hint_attrs[4]; /* interned "kinds", "negative", "person_container", "decides" */

static int hint_flags_read(PyObject *hint);

/* hint_flags of the last hint asked about (held, so its address cannot be reused): the root and
 * "no hint" evidence of every call. Hints are immutable. */
static PyObject *flags_hint;
static int flags_value;

static int
hint_flags(PyObject *hint)
{
    if (hint == flags_hint) {
        return flags_value;
    }
    int flags = hint_flags_read(hint);
    if (flags >= 0) {
        /* The value first: dropping the old hint may run a finalizer that asks here again, and
         * must find the pair consistent. */
        flags_value = flags;
        Py_INCREF(hint);
        Py_XSETREF(flags_hint, hint);
    }
    return flags;
}

static int
hint_flags_read(PyObject *hint)
{
    int flags = 0, truth;
    PyObject *attr;
    static const int bits[4] = {F_KINDS, F_NEGATIVE, F_PERSON, F_DECIDES};
    for (int i = 0; i < 4; i++) {
        attr = PyObject_GetAttr(hint, hint_attrs[i]);
        if (attr == NULL) {
            return -1;
        }
        truth = PyObject_IsTrue(attr);
        Py_DECREF(attr);
        if (truth < 0) {
            return -1;
        }
        if (truth) {
            flags |= bits[i];
        }
    }
    return flags;
}

/* New reference to the hint of `key` under a parent with `parent_flags`; *flags set. */
static PyObject *
hint_for(State *st, PyObject *key, PyObject *parent_hint, int parent_flags, int *flags)
{
    PyObject *cache, *entry, *hint, *flag_obj;
    int computed;
    if (!PyUnicode_CheckExact(key)) {
        *flags = st->no_hint_flags;
        Py_INCREF(st->no_hint);
        return st->no_hint;
    }
    cache = st->caches[(parent_flags & F_PERSON) ? 1 : 0];
    entry = PyDict_GetItemWithError(cache, key);
    if (entry != NULL) {
        hint = PyTuple_GET_ITEM(entry, 0);
        *flags = (int)PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
        Py_INCREF(hint);
        return hint;
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    hint = PyObject_CallFunctionObjArgs(st->key_hint, key, parent_hint, NULL);
    if (hint == NULL) {
        return NULL;
    }
    computed = hint_flags(hint);
    if (computed < 0) {
        Py_DECREF(hint);
        return NULL;
    }
    *flags = computed;
    if (PyDict_GET_SIZE(cache) < st->cache_max) {
        flag_obj = PyLong_FromLong(computed);
        if (flag_obj == NULL) {
            Py_DECREF(hint);
            return NULL;
        }
        entry = PyTuple_Pack(2, hint, flag_obj);
        Py_DECREF(flag_obj);
        if (entry == NULL || PyDict_SetItem(cache, key, entry) < 0) {
            Py_XDECREF(entry);
            Py_DECREF(hint);
            return NULL;
        }
        Py_DECREF(entry);
    }
    return hint;
}

static int
append_neg(State *st, char value)
{
    if (st->neg_len == st->neg_cap) {
        Py_ssize_t cap = st->neg_cap ? st->neg_cap * 2 : 1024;
        char *grown = PyMem_Realloc(st->neg, (size_t)cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        st->neg = grown;
        st->neg_cap = cap;
    }
    st->neg[st->neg_len++] = value;
    return 0;
}

/* Append one leaf; `text` is borrowed. */
static int
leaf(State *st, PyObject *text, PyObject *parent, PyObject *step, PyObject *hint, int flags)
{
    if (flags & F_DECIDES) {
        PyObject *index = PyLong_FromSsize_t(PyList_GET_SIZE(st->values));
        if (index == NULL) {
            return -1;
        }
        int rc = PyList_Append(st->keyed, index);
        Py_DECREF(index);
        if (rc < 0) {
            return -1;
        }
    }
    if (PyList_Append(st->values, text) < 0 || PyList_Append(st->parents, parent) < 0 ||
        PyList_Append(st->steps, step) < 0 || PyList_Append(st->hints, hint) < 0) {
        return -1;
    }
    return append_neg(st, (flags & F_NEGATIVE) ? 1 : 0);
}

/* 1 when the exact int `node` is scanned without a key: |node| >= min_int. */
static int
big_int(State *st, PyObject *node)
{
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(node, &overflow);
    if (overflow) {
        return 1;
    }
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    return value >= st->min_int || value <= -st->min_int;
}

/* A leaf under a key or list slot: str, or an int worth scanning. */
static int
child_leaf(State *st, PyObject *child, PyObject *loc, PyObject *step, PyObject *hint, int flags,
           int min_str_applies)
{
    if (PyUnicode_CheckExact(child)) {
        if (!(flags & F_KINDS) && min_str_applies && PyUnicode_GET_LENGTH(child) < st->min_str) {
            return 0;
        }
        return leaf(st, child, loc, step, hint, flags);
    }
    if (PyLong_CheckExact(child)) {
        int big = (flags & F_KINDS) ? 1 : big_int(st, child);
        if (big <= 0) {
            return big;
        }
        PyObject *text = PyObject_Str(child);
        if (text == NULL) {
            return -1;
        }
        int rc = leaf(st, text, loc, step, hint, flags);
        Py_DECREF(text);
        return rc;
    }
    return 0;
}

static int visit(State *st, PyObject *node, PyObject *loc, PyObject *hint, int flags);

static int
visit_child(State *st, PyObject *child, PyObject *loc, PyObject *step, PyObject *hint, int flags)
{
    if (PyDict_CheckExact(child) || PyList_CheckExact(child) || PyTuple_CheckExact(child)) {
        PyObject *child_loc = PyTuple_Pack(2, loc, step);
        if (child_loc == NULL) {
            return -1;
        }
        int rc = visit(st, child, child_loc, hint, flags);
        Py_DECREF(child_loc);
        return rc;
    }
    return child_leaf(st, child, loc, step, hint, flags, 1);
}

static int
visit(State *st, PyObject *node, PyObject *loc, PyObject *hint, int flags)
{
    int rc = 0;
    if (Py_EnterRecursiveCall(" while collecting the values of a document")) {
        return -1;
    }
    if (PyDict_CheckExact(node)) {
        Py_ssize_t pos = 0;
        PyObject *key, *child;
        while (rc == 0 && PyDict_Next(node, &pos, &key, &child)) {
            int child_flags = 0;
            Py_INCREF(key);
            Py_INCREF(child);
            PyObject *child_hint = hint_for(st, key, hint, flags, &child_flags);
            if (child_hint == NULL) {
                rc = -1;
            }
            else {
                rc = visit_child(st, child, loc, key, child_hint, child_flags);
                Py_DECREF(child_hint);
            }
            Py_DECREF(key);
            Py_DECREF(child);
        }
    }
    else if (PyList_CheckExact(node) || PyTuple_CheckExact(node)) {
        /* List items inherit the evidence of the list's key: "emails": ["...", "..."]. */
        int is_list = PyList_CheckExact(node);
        for (Py_ssize_t i = 0; rc == 0; i++) {
            Py_ssize_t size = is_list ? PyList_GET_SIZE(node) : PyTuple_GET_SIZE(node);
            if (i >= size) {
                break;
            }
            PyObject *child = is_list ? PyList_GET_ITEM(node, i) : PyTuple_GET_ITEM(node, i);
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL) {
                rc = -1;
                break;
            }
            Py_INCREF(child);
            rc = visit_child(st, child, loc, index, hint, flags);
            Py_DECREF(child);
            Py_DECREF(index);
        }
    }
    else {
        rc = child_leaf(st, node, loc, Py_None, hint, flags, 1);
    }
    Py_LeaveRecursiveCall();
    return rc;
}

static PyObject *
collect(PyObject *module, PyObject *args)
{
    PyObject *root, *root_hint, *caches, *result = NULL;
    State st;
    memset(&st, 0, sizeof(st));
    if (!PyArg_ParseTuple(args, "OOOOO!nnL", &root, &root_hint, &st.key_hint, &st.no_hint,
                          &PyTuple_Type, &caches, &st.cache_max, &st.min_str, &st.min_int)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(caches) != 2 || !PyDict_CheckExact(PyTuple_GET_ITEM(caches, 0)) ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(caches, 1))) {
        PyErr_SetString(PyExc_TypeError, "caches must be a tuple of two dicts");
        return NULL;
    }
    st.caches[0] = PyTuple_GET_ITEM(caches, 0);
    st.caches[1] = PyTuple_GET_ITEM(caches, 1);
    int root_flags = hint_flags(root_hint);
    st.no_hint_flags = hint_flags(st.no_hint);
    if (root_flags < 0 || st.no_hint_flags < 0) {
        return NULL;
    }
    st.values = PyList_New(0);
    st.parents = PyList_New(0);
    st.steps = PyList_New(0);
    st.hints = PyList_New(0);
    st.keyed = PyList_New(0);
    if (st.values && st.parents && st.steps && st.hints && st.keyed &&
        visit(&st, root, Py_None, root_hint, root_flags) == 0) {
        PyObject *neg = PyBytes_FromStringAndSize(st.neg ? st.neg : "", st.neg_len);
        if (neg != NULL) {
            result = PyTuple_Pack(6, st.values, st.parents, st.steps, st.hints, st.keyed, neg);
            Py_DECREF(neg);
        }
    }
    Py_XDECREF(st.values);
    Py_XDECREF(st.parents);
    Py_XDECREF(st.steps);
    Py_XDECREF(st.hints);
    Py_XDECREF(st.keyed);
    PyMem_Free(st.neg);
    return result;
}

static PyObject *
join(PyObject *module, PyObject *args)
{
    PyObject *values, *hints, *sep = NULL, *text = NULL, *starts = NULL, *result = NULL;
    PyObject *joined = NULL, *joined_hints = NULL, *order = NULL;
    Py_buffer neg;
    if (!PyArg_ParseTuple(args, "O!O!y*", &PyList_Type, &values, &PyList_Type, &hints, &neg)) {
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(values);
    if (PyList_GET_SIZE(hints) != n || neg.len != n) {
        PyErr_SetString(PyExc_ValueError, "values, hints and negative differ in length");
        goto done;
    }
    const char *flags = neg.buf;
    Py_ssize_t runs_count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        runs_count += !flags[i];
    }
    if (runs_count == n) {
        joined = values;
        joined_hints = hints;
        Py_INCREF(joined);
        Py_INCREF(joined_hints);
        order = Py_None;
        Py_INCREF(order);
    }
    else {
        joined = PyList_New(n);
        joined_hints = PyList_New(n);
        order = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(long long));
        if (joined == NULL || joined_hints == NULL || order == NULL) {
            goto done;
        }
        /* str values and immutable hints: never part of a cycle (see leaves). */
        PyObject_GC_UnTrack(joined);
        PyObject_GC_UnTrack(joined_hints);
        long long *order_out = (long long *)PyBytes_AS_STRING(order);
        Py_ssize_t front = 0, back = runs_count;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t j = flags[i] ? back++ : front++;
            order_out[j] = (long long)i;
            PyObject *value = PyList_GET_ITEM(values, i), *hint = PyList_GET_ITEM(hints, i);
            Py_INCREF(value);
            Py_INCREF(hint);
            PyList_SET_ITEM(joined, j, value);
            PyList_SET_ITEM(joined_hints, j, hint);
        }
    }
    starts = PyBytes_FromStringAndSize(NULL, (n + 1) * (Py_ssize_t)sizeof(long long));
    if (starts == NULL) {
        goto done;
    }
    long long *starts_out = (long long *)PyBytes_AS_STRING(starts);
    Py_ssize_t offset = 0;
    for (Py_ssize_t j = 0; j <= n; j++) {
        starts_out[j] = (long long)offset;
        if (j < n) {
            PyObject *value = PyList_GET_ITEM(joined, j);
            if (!PyUnicode_Check(value)) {
                PyErr_SetString(PyExc_TypeError, "values must be str");
                goto done;
            }
            offset += PyUnicode_GET_LENGTH(value) + 1;
        }
    }
    sep = PyUnicode_FromOrdinal(0);
    if (sep == NULL) {
        goto done;
    }
    text = PyUnicode_Join(sep, joined);
    if (text == NULL) {
        goto done;
    }
    result = Py_BuildValue("(OOOOn)", text, starts, joined_hints, order, runs_count);
done:
    PyBuffer_Release(&neg);
    Py_XDECREF(sep);
    Py_XDECREF(text);
    Py_XDECREF(starts);
    Py_XDECREF(joined);
    Py_XDECREF(joined_hints);
    Py_XDECREF(order);
    return result;
}

static PyObject *
long_digit_run(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    const unsigned char *data = view.buf;
    Py_ssize_t run = 0;
    int found = 0;
    for (Py_ssize_t i = 0; i < view.len; i++) {
        if (data[i] >= '0' && data[i] <= '9') {
            run++;
            if (run >= 20 || (run == 19 && i >= 19 && data[i - 19] == '-')) {
                found = 1;
                break;
            }
        }
        else {
            run = 0;
        }
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(found);
}

static int
append_index(PyObject *list, Py_ssize_t value)
{
    PyObject *index = PyLong_FromSsize_t(value);
    if (index == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, index);
    Py_DECREF(index);
    return rc;
}

/* Segments of `text` (split at `starts`) that hold a non-ASCII character or, ASCII-lower-cased,
 * one of the ASCII `triggers`: a superset of the segments whose str.lower() holds a trigger
 * (non-ASCII segments are all kept, since Unicode case mapping can produce ASCII, e.g. the
 * Kelvin sign). Sorted indices. */

#define MAX_TRIGGERS 128

/* The first two characters of every secret gate: one table look-up rejects almost every
 * position, so the detailed checks (and their mispredicted branches) run rarely. */
static unsigned char secret_pairs[256][256];

/* Both characters below 256 (a function, so the test reads the same for every str width). */
static inline int
latin1_pair(Py_UCS4 a, Py_UCS4 b)
{
    return (a | b) < 256;
}

#define PAIR_TRIGGER 1 /* a trigger starts with this pair, in some mix of cases */
#define PAIR_WIDE 2    /* a character of the pair is not ASCII */
#define PAIR_SECRET 4  /* a secret gate starts with this pair (secret_pairs) */

typedef struct {
    /* pairs[a][b]: PAIR_* flags of two consecutive characters below 256, so one look-up
     * rejects almost every position; head[a][b]: 1 + index of the first trigger starting with
     * the lower-case ASCII pair a, b; next[w]: 1 + index of the next trigger with the same pair
     * (0 ends the chain). */
    unsigned char pairs[256][256];
    unsigned char head[128][128];
    unsigned char next[MAX_TRIGGERS];
    const char *words[MAX_TRIGGERS];
    Py_ssize_t lengths[MAX_TRIGGERS];
    PyObject *source;  /* the tuple of words (held: the words' characters live in it) */
    Py_ssize_t users;  /* gates() calls using the table now */
} Triggers;

static inline Py_UCS4
ascii_lower(Py_UCS4 c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* 1 when text[seg_start:seg_end] may hold a trigger (see above). */
#define SEGMENT_MAY_HOLD(TYPE)                                                                  \
    static int segment_may_hold_##TYPE(const TYPE *data, Py_ssize_t seg_start,                 \
                                       Py_ssize_t seg_end, const Triggers *tr)                  \
    {                                                                                           \
        for (Py_ssize_t i = seg_start; i + 1 < seg_end; i++) {                                  \
            Py_UCS4 c0 = data[i], c1 = data[i + 1];                                             \
            if (!latin1_pair(c0, c1)) {                                                         \
                return 1;                                                                       \
            }                                                                                   \
            unsigned char flags = tr->pairs[c0][c1];                                            \
            if (flags == 0) {                                                                   \
                continue;                                                                       \
            }                                                                                   \
            if (flags & PAIR_WIDE) {                                                            \
                return 1;                                                                       \
            }                                                                                   \
            for (int w = tr->head[ascii_lower(c0)][ascii_lower(c1)]; w; w = tr->next[w - 1]) { \
                const char *word = tr->words[w - 1];                                            \
                Py_ssize_t wl = tr->lengths[w - 1], j = 2;                                      \
                if (i + wl > seg_end) {                                                         \
                    continue;                                                                   \
                }                                                                               \
                while (j < wl && ascii_lower(data[i + j]) == (Py_UCS4)(unsigned char)word[j]) { \
                    j++;                                                                        \
                }                                                                               \
                if (j == wl) {                                                                  \
                    return 1;                                                                   \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        /* the last character, when the loop saw no pair ending with it (one-character segment) */ \
        return seg_end > seg_start && data[seg_end - 1] >= 128;                                 \
    }

SEGMENT_MAY_HOLD(Py_UCS2)
SEGMENT_MAY_HOLD(Py_UCS4)

/* The trigger table of the last tuple of words seen: the engine passes the same tuple on every
 * call, so it is built once. A table holds its tuple (the words' characters live there) and
 * counts the calls using it: a call made while another runs (a finalizer or another thread, when
 * an allocation runs Python code) may bring other words and replace the kept table, which is
 * then freed by the last call that releases it, never under one still reading it. */
static Triggers *trigger_table;

static void
triggers_free(Triggers *tr)
{
    PyObject *source = tr->source;
    PyMem_Free(tr);
    Py_DECREF(source); /* last: it may run code (a str subclass's finalizer) */
}

static void
triggers_release(Triggers *tr)
{
    if (--tr->users == 0 && tr != trigger_table) {
        triggers_free(tr);
    }
}

/* The table for `triggers`, with one more user (triggers_release it), or NULL. */
static Triggers *
triggers_acquire(PyObject *triggers)
{
    if (trigger_table != NULL && trigger_table->source == triggers) {
        trigger_table->users++;
        return trigger_table;
    }
    Triggers *tr = PyMem_Calloc(1, sizeof(Triggers));
    if (tr == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    int n_words = 0;
    for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(triggers); t++) {
        PyObject *word = PyTuple_GET_ITEM(triggers, t);
        if (!PyUnicode_CheckExact(word) || PyUnicode_GET_LENGTH(word) < 2) {
            PyErr_SetString(PyExc_ValueError, "triggers are str of two characters or more");
            PyMem_Free(tr);
            return NULL;
        }
        if (!PyUnicode_IS_ASCII(word)) {
            continue; /* can only occur in non-ASCII segments, which are all kept */
        }
        const char *chars = (const char *)PyUnicode_DATA(word);
        Py_ssize_t length = PyUnicode_GET_LENGTH(word);
        for (Py_ssize_t j = 0; j < length; j++) {
            if (chars[j] >= 'A' && chars[j] <= 'Z') {
                PyErr_SetString(PyExc_ValueError, "triggers are lower-case");
                PyMem_Free(tr);
                return NULL;
            }
        }
        if (n_words == MAX_TRIGGERS) {
            PyErr_SetString(PyExc_ValueError, "too many triggers");
            PyMem_Free(tr);
            return NULL;
        }
        unsigned char a = (unsigned char)chars[0], b = (unsigned char)chars[1];
        tr->words[n_words] = chars;
        tr->lengths[n_words] = length;
        tr->next[n_words] = tr->head[a][b];
        tr->head[a][b] = (unsigned char)(n_words + 1);
        n_words++;
        /* triggers are lower-case ASCII: flag every mix of cases of their first pair */
        for (int ua = 0; ua < 2; ua++) {
            for (int ub = 0; ub < 2; ub++) {
                unsigned char ca = (ua && a >= 'a' && a <= 'z') ? a - 32 : a;
                unsigned char cb = (ub && b >= 'a' && b <= 'z') ? b - 32 : b;
                tr->pairs[ca][cb] |= PAIR_TRIGGER;
            }
        }
    }
    for (int c0 = 0; c0 < 256; c0++) {
        for (int c1 = 0; c1 < 256; c1++) {
            if (c0 >= 128 || c1 >= 128) {
                tr->pairs[c0][c1] |= PAIR_WIDE;
            }
            if (secret_pairs[c0][c1]) {
                tr->pairs[c0][c1] |= PAIR_SECRET;
            }
        }
    }
    Py_INCREF(triggers);
    tr->source = triggers;
    tr->users = 1;
    Triggers *old = trigger_table;
    trigger_table = tr;
    if (old != NULL && old->users == 0) {
        triggers_free(old);
    }
    return tr;
}

/* Segment starts from a list of int or from join()'s int64 array (a memoryview cast to "q"),
 * with starts[n] = length + 1 appended; *n_segs is set. PyMem_Free the result. They must
 * increase strictly from 0 or more and stay within the text (at least one): anything else is
 * a ValueError. join()'s starts end with length + 1. */
static Py_ssize_t *
read_starts(PyObject *starts_obj, Py_ssize_t length, Py_ssize_t *n_segs)
{
    Py_ssize_t *starts = NULL;
    if (PyObject_CheckBuffer(starts_obj)) {
        Py_buffer view;
        if (PyObject_GetBuffer(starts_obj, &view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
            return NULL;
        }
        if (view.itemsize != (Py_ssize_t)sizeof(long long) || view.format == NULL ||
            strcmp(view.format, "q") != 0) {
            PyErr_SetString(PyExc_TypeError, "starts must be int64 (format 'q')");
        }
        else {
            *n_segs = view.len / view.itemsize;
            starts = PyMem_Malloc((size_t)(*n_segs + 1) * sizeof(Py_ssize_t));
            if (starts == NULL) {
                PyErr_NoMemory();
            }
            else {
                for (Py_ssize_t k = 0; k < *n_segs; k++) {
                    starts[k] = (Py_ssize_t)((const long long *)view.buf)[k];
                }
                starts[*n_segs] = length + 1;
            }
        }
        PyBuffer_Release(&view);
        return starts;
    }
    PyObject *seq = PySequence_Fast(starts_obj, "starts must be a sequence of int");
    if (seq == NULL) {
        return NULL;
    }
    *n_segs = PySequence_Fast_GET_SIZE(seq);
    starts = PyMem_Malloc((size_t)(*n_segs + 1) * sizeof(Py_ssize_t));
    if (starts == NULL) {
        PyErr_NoMemory();
        Py_DECREF(seq);
        return NULL;
    }
    for (Py_ssize_t k = 0; k < *n_segs; k++) {
        starts[k] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k));
        if (starts[k] == -1 && PyErr_Occurred()) {
            PyMem_Free(starts);
            Py_DECREF(seq);
            return NULL;
        }
    }
    starts[*n_segs] = length + 1;
    Py_DECREF(seq);
    return starts;
}

static Py_ssize_t *
read_valid_starts(PyObject *starts_obj, Py_ssize_t length, Py_ssize_t *n_segs)
{
    Py_ssize_t *starts = read_starts(starts_obj, length, n_segs);
    if (starts == NULL) {
        return NULL;
    }
    /* join() ends its starts with length + 1, where a next value would start */
    int valid = *n_segs >= 1 && starts[0] >= 0 && starts[*n_segs - 1] <= length + 1;
    for (Py_ssize_t k = 0; valid && k + 1 < *n_segs; k++) {
        valid = starts[k] < starts[k + 1];
    }
    if (!valid) {
        PyErr_SetString(PyExc_ValueError, "starts must increase strictly within the text");
        PyMem_Free(starts);
        return NULL;
    }
    return starts;
}

/* Appends to `out` the index of every segment that may hold a trigger, in a two- or four-byte
 * text (one-byte texts take ucs1_gates). */
static int
trigger_segments_into(PyObject *text, const Py_ssize_t *starts, Py_ssize_t n_segs,
                      const Triggers *tr, PyObject *out)
{
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t k = 0; k < n_segs; k++) {
        Py_ssize_t seg_start = starts[k] < 0 ? 0 : starts[k];
        Py_ssize_t seg_end = starts[k + 1] - 1 > length ? length : starts[k + 1] - 1;
        int keep = kind == PyUnicode_2BYTE_KIND
                       ? segment_may_hold_Py_UCS2(data, seg_start, seg_end, tr)
                       : segment_may_hold_Py_UCS4(data, seg_start, seg_end, tr);
        if (keep && append_index(out, k) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Where a secret may start: the positions _engine._secret_positions_py finds with one regex or
 * str.find per literal gate, in one pass. Gates that can overlap themselves ("_live_",
 * "$2$2$", "AKIAIza") follow re.finditer: the next match starts after the previous one ends. */
typedef struct {
    Py_ssize_t next_a, next_live, next_hash; /* where self-overlapping gates may match again */
} SecretScan;

/* Where a secret starting near d[i] starts (PY_SSIZE_T_MIN: none), for a position whose pair
 * d[i], d[i + 1] is in secret_pairs. Positions must be visited in increasing order. */
#define SECRET_AT(TYPE)                                                                         \
    static inline Py_ssize_t secret_at_##TYPE(const TYPE *d, Py_ssize_t n, Py_ssize_t i,       \
                                              SecretScan *sc)                                   \
    {                                                                                           \
        Py_ssize_t pos = PY_SSIZE_T_MIN;                                                        \
        Py_ssize_t next_a = sc->next_a, next_live = sc->next_live, next_hash = sc->next_hash;   \
        {                                                                                       \
            switch (d[i]) {                                                                     \
            case 'A':                                                                           \
                if (i >= next_a && i + 3 < n &&                                                 \
                    ((d[i + 1] == 'K' && d[i + 2] == 'I' && d[i + 3] == 'A') ||                 \
                     (d[i + 1] == 'S' && d[i + 2] == 'I' && d[i + 3] == 'A') ||                 \
                     (d[i + 1] == 'G' && d[i + 2] == 'P' && d[i + 3] == 'A') ||                 \
                     (d[i + 1] == 'I' && d[i + 2] == 'D' && d[i + 3] == 'A') ||                 \
                     (d[i + 1] == 'R' && d[i + 2] == 'O' && d[i + 3] == 'A') ||                 \
                     (d[i + 1] == 'I' && d[i + 2] == 'z' && d[i + 3] == 'a'))) {                \
                    pos = i;                                                                    \
                    next_a = i + 4;                                                             \
                }                                                                               \
                break;                                                                          \
            case 'g':                                                                           \
                if ((i + 3 < n && d[i + 1] == 'h' &&                                            \
                     (d[i + 2] == 'p' || d[i + 2] == 'o' || d[i + 2] == 'u' ||                  \
                      d[i + 2] == 's' || d[i + 2] == 'r') &&                                    \
                     d[i + 3] == '_') ||                                                        \
                    at(d, n, i + 1, "ithub_pat_")) {                                            \
                    pos = i;                                                                    \
                }                                                                               \
                break;                                                                          \
            case 'x':                                                                           \
                if (i + 4 < n && d[i + 1] == 'o' && d[i + 2] == 'x' &&                          \
                    (d[i + 3] == 'a' || d[i + 3] == 'b' || d[i + 3] == 'p' ||                   \
                     d[i + 3] == 'o' || d[i + 3] == 's' || d[i + 3] == 'r') &&                  \
                    d[i + 4] == '-') {                                                          \
                    pos = i;                                                                    \
                }                                                                               \
                break;                                                                          \
            case '_':                                                                           \
                if (i >= next_live && at(d, n, i + 1, "live_")) {                               \
                    pos = i - 2;                                                                \
                    next_live = i + 6;                                                          \
                }                                                                               \
                break;                                                                          \
            case 's':                                                                           \
                if (at(d, n, i + 1, "k_test_") || at(d, n, i + 1, "k-")) {                      \
                    pos = i;                                                                    \
                }                                                                               \
                break;                                                                          \
            case '$':                                                                           \
                if (i >= next_hash) {                                                           \
                    Py_ssize_t end = -1;                                                        \
                    if (at(d, n, i + 1, "argon2") || at(d, n, i + 1, "pbkdf2")) {               \
                        end = i + 7;                                                            \
                    }                                                                           \
                    else if (at(d, n, i + 1, "scrypt$")) {                                      \
                        end = i + 8;                                                            \
                    }                                                                           \
                    else if (at(d, n, i + 1, "7$")) {                                           \
                        end = i + 3;                                                            \
                    }                                                                           \
                    else if (i + 2 < n && d[i + 1] == '2') {                                    \
                        if (i + 3 < n &&                                                        \
                            (d[i + 2] == 'a' || d[i + 2] == 'b' || d[i + 2] == 'x' ||           \
                             d[i + 2] == 'y') &&                                                \
                            d[i + 3] == '$') {                                                  \
                            end = i + 4;                                                        \
                        }                                                                       \
                        else if (d[i + 2] == '$') {                                             \
                            end = i + 3;                                                        \
                        }                                                                       \
                    }                                                                           \
                    if (end >= 0) {                                                             \
                        pos = i;                                                                \
                        next_hash = end;                                                        \
                    }                                                                           \
                }                                                                               \
                break;                                                                          \
            case 'e':                                                                           \
                if (at(d, n, i + 1, "yJ")) {                                                    \
                    pos = i;                                                                    \
                }                                                                               \
                else if (at(d, n, i + 1, "arer")) {                                             \
                    pos = i - 1;                                                                \
                }                                                                               \
                break;                                                                          \
            case '-':                                                                           \
                if (at(d, n, i + 1, "----BEGIN")) {                                             \
                    pos = i;                                                                    \
                }                                                                               \
                break;                                                                          \
            case 'p':                                                                           \
                if (at(d, n, i + 1, "bkdf2_")) {                                                \
                    pos = i;                                                                    \
                }                                                                               \
                break;                                                                          \
            default:                                                                            \
                break;                                                                          \
            }                                                                                   \
        }                                                                                       \
        sc->next_a = next_a;                                                                    \
        sc->next_live = next_live;                                                              \
        sc->next_hash = next_hash;                                                              \
        return pos;                                                                             \
    }

#define SECRET_POSITIONS(TYPE)                                                                  \
    static int secret_positions_##TYPE(const TYPE *d, Py_ssize_t n, PyObject *out)             \
    {                                                                                           \
        SecretScan sc = {0, 0, 0};                                                              \
        for (Py_ssize_t i = 0; i + 1 < n; i++) {                                                \
            if (!latin1_pair(d[i], d[i + 1]) || !secret_pairs[d[i]][d[i + 1]]) {                 \
                continue;                                                                       \
            }                                                                                   \
            Py_ssize_t pos = secret_at_##TYPE(d, n, i, &sc);                                    \
            if (pos != PY_SSIZE_T_MIN && append_index(out, pos) < 0) {                          \
                return -1;                                                                      \
            }                                                                                   \
        }                                                                                       \
        return 0;                                                                               \
    }

static const char *const secret_pair_list[] = {"AK", "AS", "AG", "AI", "AR", "gh", "gi", "xo",
                                               "_l", "sk", "$a", "$2", "$s", "$7", "$p", "ey",
                                               "ea", "--", "pb", NULL};

#define AT(TYPE)                                                                                \
    static inline int at_##TYPE(const TYPE *d, Py_ssize_t n, Py_ssize_t i, const char *lit)    \
    {                                                                                           \
        for (; *lit; lit++, i++) {                                                              \
            if (i >= n || d[i] != (TYPE)(unsigned char)*lit) {                                  \
                return 0;                                                                       \
            }                                                                                   \
        }                                                                                       \
        return 1;                                                                               \
    }
AT(Py_UCS1)
AT(Py_UCS2)
AT(Py_UCS4)

#define at at_Py_UCS1
SECRET_AT(Py_UCS1)
#undef at
#define at at_Py_UCS2
SECRET_AT(Py_UCS2)
SECRET_POSITIONS(Py_UCS2)
#undef at
#define at at_Py_UCS4
SECRET_AT(Py_UCS4)
SECRET_POSITIONS(Py_UCS4)
#undef at

/* Appends to `out` every position where a secret may start (unsorted, may repeat), in a two- or
 * four-byte text (one-byte texts take ucs1_gates). */
static int
secret_positions_into(PyObject *text, PyObject *out)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    return PyUnicode_KIND(text) == PyUnicode_2BYTE_KIND ? secret_positions_Py_UCS2(data, n, out)
                                                        : secret_positions_Py_UCS4(data, n, out);
}

/* ---- leaves(): collect() straight from the JSON bytes, without building the document ----
 *
 * A tokenizer for RFC 8259 JSON in UTF-8 that yields exactly what collect() yields for the
 * document json.loads would return, without creating a dict, a list or a string for a value
 * that is not scanned: on a 10 MB body orjson's object graph, and the garbage collector's walks
 * over it, cost more than the scan. It accepts only input it can read exactly as json.loads
 * does; anything else (a BOM, a NUL, invalid or surrogate UTF-8, a lone \u surrogate, NaN and
 * Infinity, integers of 19 digits or more, a duplicate key in an object, nesting deeper than
 * max_depth, and of course any syntax error) returns None and the caller takes the Python
 * path, which decides what to do with it; so does a body whose keys overrun the key table's
 * probe budget (see KEY_PROBES_BASE). Every read is bounds-checked against `end`.
 */

#define LX_OK 0
#define GUESS_DEPTH 64 /* objects nested deeper look their first key up by hash */
#define LX_ODD 1 /* not read here: the Python path decides */
#define LX_ERR (-1)

typedef struct KeyEntryS {
    Py_hash_t hash;
    char *bytes; /* UTF-8 of the decoded key (owned) */
    Py_ssize_t len;
    PyObject *key;      /* the key as str */
    PyObject *hint[2];  /* key evidence under a plain parent / a person container */
    int flags[2];
    Py_ssize_t mark;    /* serial of the innermost open object the key was last seen in */
    /* The key that followed this one in the last object read, valid while the table has not
     * moved since (guess_gen == table_gen): records repeat their keys in order, so a key is
     * usually found by one comparison instead of a hash and a probe. */
    struct KeyEntryS *next_guess;
    Py_ssize_t guess_gen;
} KeyEntry;

typedef struct {
    KeyEntry *entry;
    Py_ssize_t old_mark;
} Seen;

typedef struct {
    State st;
    const unsigned char *p, *end;
    KeyEntry *table;
    Py_ssize_t cap, count;
    Seen *seen;
    Py_ssize_t seen_len, seen_cap;
    Py_ssize_t serial;
    unsigned char *scratch;
    Py_ssize_t scratch_cap;
    int max_depth;
    Py_ssize_t probes, lookups; /* key table work, against the budget below */
    Py_ssize_t moved;           /* entries moved by the table's growth (they raise the budget) */
    Py_ssize_t key_bytes;       /* UTF-8 bytes of every key in the table */
    int kept;                   /* the table is the one kept between calls (see leaves) */
    KeyEntry *first_guess[GUESS_DEPTH]; /* first key of the last object read at each depth */
    Py_ssize_t first_gen;               /* table_gen when first_guess was last valid */
} Lexer;

/* The key table outlives a call, so a service's bodies, which repeat the same keys, find them
 * already there with their evidence: no key str, hint look-up or allocation per key and call.
 * It holds keys and their hints only (what key_hint's own memo holds), is used by one call at
 * a time (a call that starts while another is under way gets a table of its own: another
 * thread's, while the first runs key_hint's Python code, or a finalizer's), and is
 * emptied after a call that leaves it above KEPT_KEYS keys or KEPT_KEY_BYTES bytes of keys, or
 * that went over the probe budget, or whose key evidence came from other functions. */
#define KEPT_KEYS 4096
#define KEPT_KEY_BYTES (1 << 20)
static KeyEntry *kept_table;
static Py_ssize_t kept_cap, kept_count, kept_key_bytes;
static PyObject *kept_for[3]; /* key_hint, no_hint and caches the kept hints came from */
static int kept_busy;
/* Bumped whenever a table's entries move: every next_guess made before is then stale. */
static Py_ssize_t table_gen = 1;

/* The key table's work is bounded whatever the keys. Keys are hashed with CPython's keyed bytes
 * hash (SipHash with the per-process secret: hash(b"key") in Python), so keys that collide in
 * the table cannot be chosen in advance; and should they collide anyway (PYTHONHASHSEED set, bad
 * luck), every slot examined past the first, on lookup or when the table grows, counts against a
 * budget of KEY_PROBES_BASE + KEY_PROBES_PER_LOOKUP per key read and per key moved by growth
 * (the moves are linear in the keys; a cluster of colliding keys is not). Past it leaves() declines and
 * the Python path (dicts) reads the body: the table never costs more than linear time. With a
 * table at most half full, a key read costs about one extra probe on average. */
#define KEY_PROBES_BASE 256
#define KEY_PROBES_PER_LOOKUP 8

/* Probes and lookups of the last leaves() call (tests read them through _key_table_stats). */
static Py_ssize_t last_probes, last_lookups, last_moved;

static inline Py_hash_t
key_hash(const unsigned char *s, Py_ssize_t len)
{
#if PY_VERSION_HEX >= 0x030E0000
    return Py_HashBuffer(s, len);
#else
    return _Py_HashBytes(s, len);
#endif
}

static inline int
over_budget(const Lexer *lx)
{
    return lx->probes > KEY_PROBES_BASE + KEY_PROBES_PER_LOOKUP * (lx->lookups + lx->moved);
}

static inline void
skip_ws(Lexer *lx)
{
    const unsigned char *p = lx->p, *end = lx->end;
    /* Most JSON has no space or one (json.dumps writes ", " and ": "): check those first. */
    if (p < end && *p == ' ') {
        p++;
    }
    if (p < end && *p > ' ') {
        lx->p = p;
        return;
    }
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    lx->p = p;
}

static int
scratch_reserve(Lexer *lx, Py_ssize_t need)
{
    if (need <= lx->scratch_cap) {
        return LX_OK;
    }
    Py_ssize_t cap = lx->scratch_cap ? lx->scratch_cap : 256;
    while (cap < need) {
        cap *= 2;
    }
    unsigned char *grown = PyMem_Realloc(lx->scratch, (size_t)cap);
    if (grown == NULL) {
        PyErr_NoMemory();
        return LX_ERR;
    }
    lx->scratch = grown;
    lx->scratch_cap = cap;
    return LX_OK;
}

static inline int
hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not hex. */
static inline long
hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

/* Length of the strict UTF-8 sequence at p (no overlongs, no surrogates, <= U+10FFFF), 0 if
 * invalid or cut by `end`. */
static inline int
utf8_length(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    Py_ssize_t avail = end - p;
    if (c >= 0xC2 && c <= 0xDF) {
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) {
            return 0;
        }
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F)) {
            return 0; /* overlong, or a UTF-16 surrogate (json.loads would keep it lone) */
        }
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80) {
            return 0;
        }
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F)) {
            return 0;
        }
        return 4;
    }
    return 0;
}

/* The string whose opening quote was just consumed. On LX_OK, *out and *len hold its UTF-8
 * (pointing into the input when it has no escape, else into scratch), *chars its length in
 * code points and *ascii whether it is all ASCII. */
/* Nonzero when one of the 8 bytes of x may be '"', '\\', a control character or non-ASCII
 * (SWAR; a false alarm is possible only above a true one, and the byte loop decides). */
static inline uint64_t
may_be_special(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
    return (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | (x - ones * 0x20) |
            x) &
           highs;
}

static int
lex_string(Lexer *lx, const unsigned char **out, Py_ssize_t *len, Py_ssize_t *chars, int *ascii)
{
    const unsigned char *start = lx->p, *p = start, *end = lx->end;
    while (end - p >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        uint64_t special = may_be_special(word);
        if (special) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* The lowest flagged byte is always a special one (borrows only run upwards). */
            p += __builtin_ctzll(special) >> 3;
#endif
            break;
        }
        p += 8;
    }
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20 && *p < 0x80) {
        p++;
    }
    if (p < end && *p == '"') { /* the common case: plain ASCII */
        *out = start;
        *len = *chars = p - start;
        *ascii = 1;
        lx->p = p + 1;
        return LX_OK;
    }
    /* Slow path: copy to scratch, validating UTF-8 and decoding escapes. An escape never
     * produces more bytes than it spans (\uXXXX: 6 -> at most 3; a pair: 12 -> 4). */
    if (scratch_reserve(lx, end - start) < 0) {
        return LX_ERR;
    }
    unsigned char *w = lx->scratch;
    Py_ssize_t count = 0;
    int all_ascii = 1;
    p = start;
    for (;;) {
        if (p >= end) {
            return LX_ODD;
        }
        unsigned char c = *p;
        if (c == '"') {
            break;
        }
        if (c < 0x20) {
            return LX_ODD;
        }
        if (c < 0x80 && c != '\\') {
            *w++ = c;
            p++;
            count++;
            continue;
        }
        if (c >= 0x80) {
            int n = utf8_length(p, end);
            if (n == 0) {
                return LX_ODD;
            }
            memcpy(w, p, (size_t)n);
            w += n;
            p += n;
            count++;
            all_ascii = 0;
            continue;
        }
        /* backslash */
        if (p + 1 >= end) {
            return LX_ODD;
        }
        unsigned char e = p[1];
        p += 2;
        count++;
        switch (e) {
        case '"': *w++ = '"'; continue;
        case '\\': *w++ = '\\'; continue;
        case '/': *w++ = '/'; continue;
        case 'b': *w++ = '\b'; continue;
        case 'f': *w++ = '\f'; continue;
        case 'n': *w++ = '\n'; continue;
        case 'r': *w++ = '\r'; continue;
        case 't': *w++ = '\t'; continue;
        case 'u': break;
        default: return LX_ODD;
        }
        if (end - p < 4) {
            return LX_ODD;
        }
        long cp = hex4(p);
        if (cp < 0) {
            return LX_ODD;
        }
        p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return LX_ODD; /* lone low surrogate */
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u') {
                return LX_ODD; /* lone high surrogate */
            }
            long low = hex4(p + 2);
            if (low < 0xDC00 || low > 0xDFFF) {
                return LX_ODD;
            }
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        }
        if (cp < 0x80) {
            *w++ = (unsigned char)cp;
        }
        else {
            all_ascii = 0;
            if (cp < 0x800) {
                *w++ = (unsigned char)(0xC0 | (cp >> 6));
                *w++ = (unsigned char)(0x80 | (cp & 0x3F));
            }
            else if (cp < 0x10000) {
                *w++ = (unsigned char)(0xE0 | (cp >> 12));
                *w++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (unsigned char)(0x80 | (cp & 0x3F));
            }
            else {
                *w++ = (unsigned char)(0xF0 | (cp >> 18));
                *w++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
                *w++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (unsigned char)(0x80 | (cp & 0x3F));
            }
        }
    }
    *out = lx->scratch;
    *len = w - lx->scratch;
    *chars = count;
    *ascii = all_ascii;
    lx->p = p + 1;
    return LX_OK;
}

static PyObject *
make_str(const unsigned char *s, Py_ssize_t len, int ascii)
{
    if (!ascii) {
        return PyUnicode_DecodeUTF8((const char *)s, len, "strict");
    }
    PyObject *u = PyUnicode_New(len, 127);
    if (u != NULL) {
        memcpy(PyUnicode_DATA(u), s, (size_t)len);
    }
    return u;
}

/* The table entry of a key (created on first sight) in *out: LX_OK, LX_ODD when the key table
 * went over its probe budget (see KEY_PROBES_BASE), LX_ERR on a Python error. */
/* Doubles the table (64 slots at first), moving every entry and the seen records. The moves are
 * counted in lx->moved, which raises the probe budget by as much as that many lookups would:
 * moving a kept table's keys is paid for by those keys, not by the body being read. */
static int
grow_table(Lexer *lx)
{
    Py_ssize_t cap = lx->cap ? lx->cap * 2 : 64;
    KeyEntry *grown = PyMem_Calloc((size_t)cap, sizeof(KeyEntry));
    if (grown == NULL) {
        PyErr_NoMemory();
        return LX_ERR;
    }
    for (Py_ssize_t i = 0; i < lx->cap; i++) {
        if (lx->table[i].key != NULL) {
            lx->moved++;
            Py_ssize_t j = (Py_ssize_t)((Py_uhash_t)lx->table[i].hash & (Py_uhash_t)(cap - 1));
            while (grown[j].key != NULL) {
                j = (j + 1) & (cap - 1);
                lx->probes++;
                if (over_budget(lx)) {
                    /* The entries still belong to the old table, which leaves() frees. */
                    PyMem_Free(grown);
                    return LX_ODD;
                }
            }
            grown[j] = lx->table[i];
            lx->table[i].mark = j; /* the old table is dropped below: where it went */
        }
    }
    /* Seen records point into the table: move them too. */
    for (Py_ssize_t k = 0; k < lx->seen_len; k++) {
        lx->seen[k].entry = &grown[lx->seen[k].entry->mark];
    }
    PyMem_Free(lx->table);
    lx->table = grown;
    lx->cap = cap;
    table_gen++;
    return LX_OK;
}

static int
key_entry(Lexer *lx, const unsigned char *s, Py_ssize_t len, int ascii, KeyEntry **out)
{
    Py_uhash_t h = (Py_uhash_t)key_hash(s, len);
    lx->lookups++;
    Py_ssize_t j = 0;
    if (lx->cap > 0) {
        j = (Py_ssize_t)(h & (Py_uhash_t)(lx->cap - 1));
        while (lx->table[j].key != NULL) {
            KeyEntry *e = &lx->table[j];
            if (e->hash == (Py_hash_t)h && e->len == len &&
                memcmp(e->bytes, s, (size_t)len) == 0) {
                *out = e;
                return LX_OK;
            }
            j = (j + 1) & (lx->cap - 1);
            lx->probes++;
            if (over_budget(lx)) {
                return LX_ODD;
            }
        }
    }
    /* A new key. The table grows only now, on an insert, so a kept table at its limit is not
     * rehashed by a body that only reads keys it already holds. */
    if (lx->count * 2 >= lx->cap) {
        int rc = grow_table(lx);
        if (rc != LX_OK) {
            return rc;
        }
        j = (Py_ssize_t)(h & (Py_uhash_t)(lx->cap - 1));
        while (lx->table[j].key != NULL) {
            j = (j + 1) & (lx->cap - 1);
            lx->probes++;
            if (over_budget(lx)) {
                return LX_ODD;
            }
        }
    }
    KeyEntry *e = &lx->table[j];
    e->bytes = PyMem_Malloc((size_t)(len ? len : 1));
    if (e->bytes == NULL) {
        PyErr_NoMemory();
        return LX_ERR;
    }
    PyObject *key = make_str(s, len, ascii);
    if (key == NULL) {
        PyMem_Free(e->bytes);
        e->bytes = NULL;
        return LX_ERR;
    }
    memcpy(e->bytes, s, (size_t)len);
    e->len = len;
    e->hash = (Py_hash_t)h;
    e->key = key;
    lx->count++;
    lx->key_bytes += len;
    *out = e;
    return LX_OK;
}

static int lex_value(Lexer *lx, PyObject *loc, PyObject *key, Py_ssize_t index, PyObject *hint,
                     int flags, int depth);

/* The location of a container met at (loc, key or index); the root container's is None.
 * It holds only None or another such location, and a str or an int, so it can never be part of
 * a reference cycle: it is untracked at once, as the garbage collector would do on its first
 * pass, so a big body's 100 000 locations cost the collector nothing. */
static PyObject *
child_loc(PyObject *loc, PyObject *key, Py_ssize_t index, int depth)
{
    PyObject *out;
    if (depth == 0) {
        Py_INCREF(Py_None);
        return Py_None;
    }
    if (key != NULL) {
        out = PyTuple_Pack(2, loc, key);
    }
    else {
        PyObject *step = PyLong_FromSsize_t(index);
        if (step == NULL) {
            return NULL;
        }
        out = PyTuple_Pack(2, loc, step);
        Py_DECREF(step);
    }
    if (out != NULL && PyObject_GC_IsTracked(out)) {
        PyObject_GC_UnTrack(out);
    }
    return out;
}

static int
lex_object(Lexer *lx, PyObject *loc, PyObject *hint, int flags, int depth)
{
    Py_ssize_t serial = ++lx->serial, base = lx->seen_len;
    int rc = LX_OK, person = (flags & F_PERSON) ? 1 : 0;
    KeyEntry *prev = NULL; /* the previous key's entry, while prev_gen == table_gen */
    Py_ssize_t prev_gen = 0;
    int first_key = 1;
    lx->p++; /* '{' */
    skip_ws(lx);
    if (lx->p < lx->end && *lx->p == '}') {
        lx->p++;
        return LX_OK;
    }
    for (;;) {
        const unsigned char *s;
        Py_ssize_t len, chars;
        int ascii;
        if (lx->p >= lx->end || *lx->p != '"') {
            rc = LX_ODD;
            break;
        }
        lx->p++;
        rc = lex_string(lx, &s, &len, &chars, &ascii);
        if (rc != LX_OK) {
            break;
        }
        KeyEntry *e = NULL, *guess = NULL;
        if (prev != NULL && prev_gen != table_gen) {
            prev = NULL; /* the table moved while the previous value was read */
        }
        if (prev != NULL) {
            guess = prev->guess_gen == table_gen ? prev->next_guess : NULL;
        }
        else if (depth < GUESS_DEPTH && lx->first_gen == table_gen && first_key) {
            guess = lx->first_guess[depth];
        }
        if (guess != NULL && guess->len == len && memcmp(guess->bytes, s, (size_t)len) == 0) {
            e = guess;
            lx->lookups++;
        }
        else {
            rc = key_entry(lx, s, len, ascii, &e);
            if (rc != LX_OK) {
                break;
            }
        }
        if (prev != NULL && prev_gen == table_gen) { /* key_entry may have moved the table */
            prev->next_guess = e;
            prev->guess_gen = table_gen;
        }
        else if (depth < GUESS_DEPTH && first_key) {
            if (lx->first_gen != table_gen) {
                memset(lx->first_guess, 0, sizeof(lx->first_guess));
                lx->first_gen = table_gen;
            }
            lx->first_guess[depth] = e;
        }
        prev = e;
        prev_gen = table_gen;
        first_key = 0;
        if (e->mark == serial) {
            rc = LX_ODD; /* a duplicate key: json.loads keeps the last value, first position */
            break;
        }
        if (lx->seen_len == lx->seen_cap) {
            Py_ssize_t cap = lx->seen_cap ? lx->seen_cap * 2 : 256;
            Seen *grown = PyMem_Realloc(lx->seen, (size_t)cap * sizeof(Seen));
            if (grown == NULL) {
                PyErr_NoMemory();
                rc = LX_ERR;
                break;
            }
            lx->seen = grown;
            lx->seen_cap = cap;
        }
        lx->seen[lx->seen_len].entry = e;
        lx->seen[lx->seen_len].old_mark = e->mark;
        lx->seen_len++;
        e->mark = serial;
        if (e->hint[person] == NULL) {
            int child_flags = 0;
            PyObject *child_hint = hint_for(&lx->st, e->key, hint, flags, &child_flags);
            if (child_hint == NULL) {
                rc = LX_ERR;
                break;
            }
            e->hint[person] = child_hint;
            e->flags[person] = child_flags;
        }
        skip_ws(lx);
        if (lx->p >= lx->end || *lx->p != ':') {
            rc = LX_ODD;
            break;
        }
        lx->p++;
        /* The key and its hint stay alive in the table for the whole call. */
        rc = lex_value(lx, loc, e->key, -1, e->hint[person], e->flags[person], depth + 1);
        if (rc != LX_OK) {
            break;
        }
        skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            skip_ws(lx);
            continue;
        }
        if (lx->p < lx->end && *lx->p == '}') {
            lx->p++;
            break;
        }
        rc = LX_ODD;
        break;
    }
    /* Keys of this object may appear again in a sibling or parent: restore their marks. */
    while (lx->seen_len > base) {
        lx->seen_len--;
        lx->seen[lx->seen_len].entry->mark = lx->seen[lx->seen_len].old_mark;
    }
    return rc;
}

static int
lex_array(Lexer *lx, PyObject *loc, PyObject *hint, int flags, int depth)
{
    lx->p++; /* '[' */
    skip_ws(lx);
    if (lx->p < lx->end && *lx->p == ']') {
        lx->p++;
        return LX_OK;
    }
    for (Py_ssize_t index = 0;; index++) {
        /* List items inherit the evidence of the list's key. */
        int rc = lex_value(lx, loc, NULL, index, hint, flags, depth + 1);
        if (rc != LX_OK) {
            return rc;
        }
        skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            continue;
        }
        if (lx->p < lx->end && *lx->p == ']') {
            lx->p++;
            return LX_OK;
        }
        return LX_ODD;
    }
}

/* Append a leaf met at (loc, key or index); the root leaf's step is None. */
static int
lex_leaf(Lexer *lx, PyObject *text, PyObject *loc, PyObject *key, Py_ssize_t index,
         PyObject *hint, int flags, int depth)
{
    int rc;
    if (depth == 0) {
        rc = leaf(&lx->st, text, Py_None, Py_None, hint, flags);
    }
    else if (key != NULL) {
        rc = leaf(&lx->st, text, loc, key, hint, flags);
    }
    else {
        PyObject *step = PyLong_FromSsize_t(index);
        if (step == NULL) {
            return LX_ERR;
        }
        rc = leaf(&lx->st, text, loc, step, hint, flags);
        Py_DECREF(step);
    }
    return rc < 0 ? LX_ERR : LX_OK;
}

static int
lex_number(Lexer *lx, PyObject *loc, PyObject *key, Py_ssize_t index, PyObject *hint, int flags,
           int depth)
{
    const unsigned char *start = lx->p, *p = start, *end = lx->end;
    int negative = 0, is_float = 0;
    if (*p == '-') {
        negative = 1;
        p++;
    }
    if (p >= end) {
        return LX_ODD;
    }
    const unsigned char *digits = p;
    if (*p == '0') {
        p++;
    }
    else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    else {
        return LX_ODD; /* "-Infinity", or not a number */
    }
    Py_ssize_t ndigits = p - digits;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            return LX_ODD;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
        is_float = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            return LX_ODD;
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
        is_float = 1;
    }
    lx->p = p;
    if (is_float) {
        return LX_OK; /* floats are never scanned */
    }
    if (ndigits >= 19) {
        return LX_ODD; /* past 64 bits (and Python's int-to-str limits): the Python path reads it */
    }
    long long value = 0;
    for (const unsigned char *d = digits; d < digits + ndigits; d++) {
        value = value * 10 + (*d - '0');
    }
    if (!(flags & F_KINDS) && value < lx->st.min_int) {
        return LX_OK;
    }
    /* str(int): the digits as written, with the minus, except -0 which is "0". */
    PyObject *text = value == 0 ? PyUnicode_FromString("0")
                                : make_str(negative ? start : digits,
                                           ndigits + negative, 1);
    if (text == NULL) {
        return LX_ERR;
    }
    int rc = lex_leaf(lx, text, loc, key, index, hint, flags, depth);
    Py_DECREF(text);
    return rc;
}

static int
lex_literal(Lexer *lx, const char *word, Py_ssize_t len)
{
    if (lx->end - lx->p < len || memcmp(lx->p, word, (size_t)len) != 0) {
        return LX_ODD;
    }
    lx->p += len;
    return LX_OK;
}

static int
lex_value(Lexer *lx, PyObject *loc, PyObject *key, Py_ssize_t index, PyObject *hint, int flags,
          int depth)
{
    skip_ws(lx);
    if (lx->p >= lx->end) {
        return LX_ODD;
    }
    unsigned char c = *lx->p;
    if (c == '{' || c == '[') {
        if (depth >= lx->max_depth) {
            return LX_ODD;
        }
        PyObject *here = child_loc(loc, key, index, depth);
        if (here == NULL) {
            return LX_ERR;
        }
        int rc = c == '{' ? lex_object(lx, here, hint, flags, depth)
                          : lex_array(lx, here, hint, flags, depth);
        Py_DECREF(here);
        return rc;
    }
    if (c == '"') {
        const unsigned char *s;
        Py_ssize_t len, chars;
        int ascii;
        lx->p++;
        int rc = lex_string(lx, &s, &len, &chars, &ascii);
        if (rc != LX_OK || (!(flags & F_KINDS) && chars < lx->st.min_str)) {
            return rc;
        }
        PyObject *text = make_str(s, len, ascii);
        if (text == NULL) {
            return LX_ERR;
        }
        rc = lex_leaf(lx, text, loc, key, index, hint, flags, depth);
        Py_DECREF(text);
        return rc;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        return lex_number(lx, loc, key, index, hint, flags, depth);
    }
    if (c == 't') {
        return lex_literal(lx, "true", 4);
    }
    if (c == 'f') {
        return lex_literal(lx, "false", 5);
    }
    if (c == 'n') {
        return lex_literal(lx, "null", 4);
    }
    return LX_ODD;
}

static void
free_key_table(KeyEntry *table, Py_ssize_t cap)
{
    for (Py_ssize_t i = 0; i < cap; i++) {
        KeyEntry *e = &table[i];
        if (e->key != NULL) {
            Py_DECREF(e->key);
            Py_XDECREF(e->hint[0]);
            Py_XDECREF(e->hint[1]);
            PyMem_Free(e->bytes);
        }
    }
    PyMem_Free(table);
}

static PyObject *
leaves(PyObject *module, PyObject *args)
{
    PyObject *root_hint, *caches, *result = NULL;
    Py_buffer data;
    Lexer lx;
    memset(&lx, 0, sizeof(lx));
    State *st = &lx.st;
    if (!PyArg_ParseTuple(args, "y*OOOO!nnLi", &data, &root_hint, &st->key_hint, &st->no_hint,
                          &PyTuple_Type, &caches, &st->cache_max, &st->min_str, &st->min_int,
                          &lx.max_depth)) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(caches) != 2 || !PyDict_CheckExact(PyTuple_GET_ITEM(caches, 0)) ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(caches, 1))) {
        PyErr_SetString(PyExc_TypeError, "caches must be a tuple of two dicts");
        PyBuffer_Release(&data);
        return NULL;
    }
    st->caches[0] = PyTuple_GET_ITEM(caches, 0);
    st->caches[1] = PyTuple_GET_ITEM(caches, 1);
    if (!kept_busy) {
        /* Taken first: freeing keys and hints below may run finalizers, and a call they make
         * must find the table busy (it then reads with a table of its own). */
        kept_busy = lx.kept = 1;
        if (kept_for[0] != st->key_hint || kept_for[1] != st->no_hint || kept_for[2] != caches) {
            KeyEntry *old = kept_table;
            Py_ssize_t old_cap = kept_cap;
            kept_table = NULL;
            kept_cap = kept_count = kept_key_bytes = 0;
            table_gen++;
            free_key_table(old, old_cap);
            PyObject *sources[3] = {st->key_hint, st->no_hint, caches};
            for (int i = 0; i < 3; i++) {
                Py_INCREF(sources[i]);
                Py_XSETREF(kept_for[i], sources[i]);
            }
        }
        lx.table = kept_table;
        lx.cap = kept_cap;
        lx.count = kept_count;
        lx.key_bytes = kept_key_bytes;
        kept_table = NULL;
        kept_cap = kept_count = kept_key_bytes = 0;
    }
    int root_flags = hint_flags(root_hint);
    st->no_hint_flags = hint_flags(st->no_hint);
    int rc = LX_ERR;
    if (root_flags >= 0 && st->no_hint_flags >= 0) {
        st->values = PyList_New(0);
        st->parents = PyList_New(0);
        st->steps = PyList_New(0);
        st->hints = PyList_New(0);
        st->keyed = PyList_New(0);
        if (st->values && st->parents && st->steps && st->hints && st->keyed) {
            /* Out of the collector's sight for good: read from JSON, they hold only str, int,
             * None, the cycle-free location tuples and the immutable hints, so no reference
             * cycle can ever pass through them. Tracked, a 10 MB body's 200 000-item lists were
             * walked by every older-generation pass while the findings were built: a fifth of
             * the scan (gc.callbacks, PII 10 MB: 104 ms of collector time in 453). */
            PyObject_GC_UnTrack(st->values);
            PyObject_GC_UnTrack(st->parents);
            PyObject_GC_UnTrack(st->steps);
            PyObject_GC_UnTrack(st->hints);
            PyObject_GC_UnTrack(st->keyed);
            lx.p = data.buf;
            lx.end = lx.p + data.len;
            rc = lex_value(&lx, Py_None, NULL, 0, root_hint, root_flags, 0);
            if (rc == LX_OK) {
                skip_ws(&lx);
                if (lx.p != lx.end) {
                    rc = LX_ODD; /* extra data */
                }
            }
        }
    }
    if (rc == LX_OK) {
        PyObject *neg = PyBytes_FromStringAndSize(st->neg ? st->neg : "", st->neg_len);
        if (neg != NULL) {
            result = PyTuple_Pack(6, st->values, st->parents, st->steps, st->hints, st->keyed, neg);
            Py_DECREF(neg);
        }
    }
    else if (rc == LX_ODD) {
        result = Py_None;
        Py_INCREF(result);
    }
    last_probes = lx.probes;
    last_lookups = lx.lookups;
    last_moved = lx.moved;
    if (lx.kept && !over_budget(&lx) && lx.count <= KEPT_KEYS && lx.key_bytes <= KEPT_KEY_BYTES) {
        kept_table = lx.table; /* every mark is back to what it was: the objects restored them */
        kept_cap = lx.cap;
        kept_count = lx.count;
        kept_key_bytes = lx.key_bytes;
    }
    else {
        free_key_table(lx.table, lx.cap);
        table_gen++;
    }
    if (lx.kept) {
        kept_busy = 0;
    }
    PyMem_Free(lx.seen);
    PyMem_Free(lx.scratch);
    Py_XDECREF(st->values);
    Py_XDECREF(st->parents);
    Py_XDECREF(st->steps);
    Py_XDECREF(st->hints);
    Py_XDECREF(st->keyed);
    PyMem_Free(st->neg);
    PyBuffer_Release(&data);
    return result;
}

/* ---- digit_gates(): the digit-run, IPv4 and DNI/NIE gates of _engine._digit_runs ----
 *
 * Exactly these re.finditer calls over the text's shape (digits "0", letters "A"/"a"):
 *   RUN       0(?<![0Aa_./-]0)(?:[ .()/-]{0,2}+0){6,}+(?![0Aa_])   over shape[:runs_end]
 *   IPV4_GATE \.0{1,3}\.0{1,3}\.0                                  over shape[:runs_end]
 *   NIE_GATE  0000000-?A(?![Aa0])                                  over the whole shape
 * returning (RUN spans, IPV4_GATE starts, NIE_GATE starts - 1). Every quantifier above is
 * deterministic (the separators never include "0", and possessive groups never give back), so
 * one left-to-right pass with the same tests at each position finds the same matches. */

static inline int
run_separator(unsigned char c)
{
    return c == ' ' || c == '.' || c == '(' || c == ')' || c == '/' || c == '-';
}

static int
append_span(PyObject *list, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *span = Py_BuildValue("(nn)", start, end);
    if (span == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, span);
    Py_DECREF(span);
    return rc;
}

/* Length of the run of "0" at s[i:end], at most `cap` + 1 (enough to tell "more than cap"). */
static inline Py_ssize_t
zeros_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t end, Py_ssize_t cap)
{
    Py_ssize_t k = 0;
    while (i + k < end && s[i + k] == '0' && k <= cap) {
        k++;
    }
    return k;
}

/* Appends the RUN spans and IPV4_GATE starts of shape[:runs_end] and the NIE_GATE starts - 1
 * of the whole shape to the three lists. */
static int
digit_gates_into(const unsigned char *s, Py_ssize_t n, Py_ssize_t runs_end, PyObject *spans,
                 PyObject *quads, PyObject *nies)
{
    if (runs_end > n) {
        runs_end = n;
    }
    if (runs_end < 0) {
        runs_end = 0;
    }
    /* RUN */
    for (Py_ssize_t i = 0; i < runs_end;) {
        const unsigned char *zero = memchr(s + i, '0', (size_t)(runs_end - i));
        if (zero == NULL) {
            break;
        }
        i = zero - s;
        if (i > 0) {
            unsigned char b = s[i - 1];
            if (b == '0' || b == 'A' || b == 'a' || b == '_' || b == '.' || b == '/' || b == '-') {
                /* the zeros after this one follow a "0": none of them can start a run */
                while (i < runs_end && s[i] == '0') {
                    i++;
                }
                continue;
            }
        }
        Py_ssize_t p = i + 1, count = 1;
        for (;;) {
            Py_ssize_t q = p;
            for (int k = 0; k < 2 && q < runs_end && run_separator(s[q]); k++) {
                q++;
            }
            if (q < runs_end && s[q] == '0') {
                p = q + 1;
                count++;
                continue;
            }
            break;
        }
        if (count >= 7 && !(p < runs_end && (s[p] == 'A' || s[p] == 'a' || s[p] == '_'))) {
            if (append_span(spans, i, p) < 0) {
                return -1;
            }
            i = p;
        }
        else {
            i++;
        }
    }
    /* IPV4_GATE */
    for (Py_ssize_t i = 0; i < runs_end;) {
        const unsigned char *dot = memchr(s + i, '.', (size_t)(runs_end - i));
        if (dot == NULL) {
            break;
        }
        i = dot - s;
        Py_ssize_t p = i + 1, k1 = zeros_at(s, p, runs_end, 3);
        if (k1 >= 1 && k1 <= 3 && p + k1 < runs_end && s[p + k1] == '.') {
            p += k1 + 1;
            Py_ssize_t k2 = zeros_at(s, p, runs_end, 3);
            if (k2 >= 1 && k2 <= 3 && p + k2 + 1 < runs_end && s[p + k2] == '.' &&
                s[p + k2 + 1] == '0') {
                if (append_index(quads, i) < 0) {
                    return -1;
                }
                i = p + k2 + 2;
                continue;
            }
        }
        i++;
    }
    /* NIE_GATE: seven zeros, then "A" or "-A", not followed by [Aa0]. Led by the "A", which
     * is rarer than "0" in the digits and hex of API bodies; a longer run of zeros matches at
     * its last seven. Matches cannot overlap (each holds its own "A"). */
    for (Py_ssize_t a = 0; a < n;) {
        const unsigned char *letter = memchr(s + a, 'A', (size_t)(n - a));
        if (letter == NULL) {
            break;
        }
        a = letter - s;
        Py_ssize_t j = (a >= 1 && s[a - 1] == '-') ? a - 1 : a; /* where the zeros end */
        if (j >= 7 && memcmp(s + j - 7, "0000000", 7) == 0 &&
            !(a + 1 < n && (s[a + 1] == 'A' || s[a + 1] == 'a' || s[a + 1] == '0')) &&
            append_index(nies, j - 7 - 1) < 0) {
            return -1;
        }
        a++;
    }
    return 0;
}

/* ---- gates(): every detector's gate in one call ----------------------------------------------
 *
 * gates(text, starts, runs_end, triggers, shape_table) returns None when no gate opens anywhere
 * in `text` (the common case: most values of most bodies hold nothing), else
 *     (shape, emails, spans, quads, glued, aa00, colons, secrets, triggered)
 * exactly as _engine._gates_py computes them with re, except `triggered`, the superset of
 * trigger segments described at segment_may_hold above (the Python path lists the segments
 * that pass the prose and label gates instead; both are filters before the same phrase search):
 *   shape      text.encode("latin-1", "replace").translate(shape_table)
 *   emails     (segment, start, end) of every e-mail address: _engine._email_spans_py
 *   spans, quads, glued   digit_gates_into over the shape
 *   aa00       starts of AA00 in the shape (the pattern cannot overlap itself)
 *   colons     spans of COLON_GATE (::|:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:) in text, as
 *              re.finditer finds them: left to right, the next search after a match's end
 *   secrets    secret_positions_into
 * One pass writes the shape and notes "@" and ":"; the other passes are memchr-led or run
 * only when ":" was seen. */

static inline int
hex_digit(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the run of hex digits at text[i:], when it is 1-4 long and followed by ":"; else 0. */
static inline Py_ssize_t
hex_group(int kind, const void *d, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t k = 0;
    while (i + k < n && k <= 4 && hex_digit(PyUnicode_READ(kind, d, i + k))) {
        k++;
    }
    return (k >= 1 && k <= 4 && i + k < n && PyUnicode_READ(kind, d, i + k) == ':') ? k : 0;
}

static int
colon_gates_into(PyObject *text, PyObject *out)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    for (Py_ssize_t i = 0; i + 1 < n;) {
        i = PyUnicode_FindChar(text, ':', i, n, 1);
        if (i < 0 || i + 1 >= n) {
            break;
        }
        Py_ssize_t end = -1;
        if (PyUnicode_READ(kind, d, i + 1) == ':') {
            end = i + 2;
        }
        else {
            Py_ssize_t k1 = hex_group(kind, d, n, i + 1);
            if (k1) {
                Py_ssize_t k2 = hex_group(kind, d, n, i + k1 + 2);
                if (k2) {
                    end = i + k1 + k2 + 3;
                }
            }
        }
        if (end < 0) {
            i++;
            continue;
        }
        if (append_span(out, i, end) < 0) {
            return -1;
        }
        i = end;
    }
    return 0;
}

/* ---- e-mail addresses: _engine.AT and _engine._email_start, without re ----
 *
 * AT is @(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-]).
 * A label is followed by "." and holds no ".", so it is the whole run of [A-Za-z0-9-] up to the
 * next character, which must be "."; the labels run as far as they can, and the group then gives
 * them back one by one until the top-level domain fits. The domain is a run of letters followed
 * by something that is neither \w nor "-": fewer letters would be followed by a letter, so only
 * the whole run can fit, and only when it is 2-24 long. \w is what sre's Unicode word class is:
 * Py_UNICODE_ISALNUM or "_". No match holds an "@", so every "@" is tried on its own, as
 * re.finditer would. */

static inline int
ascii_alnum(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int
ascii_alpha(Py_UCS4 c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int
word_char(Py_UCS4 c)
{
    return c == '_' || Py_UNICODE_ISALNUM(c);
}

/* End of the AT match at text[at] == "@", or -1. */
static Py_ssize_t
email_domain_end(int kind, const void *d, Py_ssize_t n, Py_ssize_t at)
{
    /* The labels, as far as they run: `dot` ends on the last one's dot. */
    Py_ssize_t q = at + 1, dot = -1;
    for (;;) {
        Py_ssize_t r = q;
        while (r < n && (ascii_alnum(PyUnicode_READ(kind, d, r)) ||
                         PyUnicode_READ(kind, d, r) == '-')) {
            r++;
        }
        if (r == q || r - q > 63 || r >= n || PyUnicode_READ(kind, d, r) != '.' ||
            PyUnicode_READ(kind, d, q) == '-' || PyUnicode_READ(kind, d, r - 1) == '-') {
            break;
        }
        dot = r;
        q = r + 1;
    }
    /* The deepest labels first, as sre gives them back: each step back walks to the previous
     * label's dot (labels hold no "."), so the whole search stays linear in the domain. */
    while (dot > at) {
        Py_ssize_t t = dot + 1, u = t;
        while (u < n && u - t <= 24 && ascii_alpha(PyUnicode_READ(kind, d, u))) {
            u++;
        }
        if (u - t >= 2 && u - t <= 24 &&
            !(u < n &&
              (PyUnicode_READ(kind, d, u) == '-' || word_char(PyUnicode_READ(kind, d, u))))) {
            return u;
        }
        do {
            dot--;
        } while (dot > at && PyUnicode_READ(kind, d, dot) != '.');
    }
    return -1;
}

/* Start of the local part before text[at] (_engine._email_start): word characters and the
 * LOCAL_SYMBOLS, at most 64 back and not before `floor`, without leading ".", "-" or "'". */
static Py_ssize_t
email_start(int kind, const void *d, Py_ssize_t at, Py_ssize_t floor)
{
    Py_ssize_t limit = at - 64 > floor ? at - 64 : floor, i = at;
    while (i > limit) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i - 1);
        if (!(word_char(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' ||
              c == '\'')) {
            break;
        }
        i--;
    }
    while (i < at) {
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        if (c != '.' && c != '-' && c != '\'') {
            break;
        }
        i++;
    }
    return i;
}

/* The segment holding position `pos`: the last k with starts[k] <= pos (starts[0] <= pos). */
static Py_ssize_t
segment_of(const Py_ssize_t *starts, Py_ssize_t n_segs, Py_ssize_t pos)
{
    Py_ssize_t lo = 0, hi = n_segs; /* starts[lo] <= pos < starts[hi] */
    while (hi - lo > 1) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (starts[mid] <= pos) {
            lo = mid;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

static int
emails_into(PyObject *text, const Py_ssize_t *starts, Py_ssize_t n_segs, PyObject *out)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    for (Py_ssize_t at = 0; at < n; at++) {
        at = PyUnicode_FindChar(text, '@', at, n, 1);
        if (at < 0) {
            break;
        }
        Py_ssize_t end = email_domain_end(kind, d, n, at);
        if (end < 0) {
            continue;
        }
        /* Before the first segment (starts[0] > 0, never from join()) no local part is read. */
        Py_ssize_t seg = starts[0] <= at ? segment_of(starts, n_segs, at) : 0;
        Py_ssize_t start = email_start(kind, d, at, starts[seg] < at ? starts[seg] : at);
        if (start < at) {
            PyObject *item = Py_BuildValue("(nnn)", seg, start, end);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                return -1;
            }
            Py_DECREF(item);
        }
        at = end - 1;
    }
    return 0;
}

#define FILL_SHAPE(TYPE)                                                                        \
    static void fill_shape_##TYPE(const TYPE *d, Py_ssize_t n, const unsigned char *table,     \
                                  unsigned char *out)                                           \
    {                                                                                           \
        unsigned char unknown = table['?'];                                                     \
        for (Py_ssize_t i = 0; i < n; i++) {                                                    \
            out[i] = d[i] < 256 ? table[d[i]] : unknown;                                        \
        }                                                                                       \
    }
FILL_SHAPE(Py_UCS1)
FILL_SHAPE(Py_UCS2)
FILL_SHAPE(Py_UCS4)

/* secret_positions_into and trigger_segments_into for a one-byte text (the common case) in one
 * pass with one look-up in tr->pairs per position: the same positions and segments. `marks`
 * has one zeroed byte per segment; starts come from read_valid_starts (n_segs >= 1). */
static int
ucs1_gates(const Py_UCS1 *d, Py_ssize_t n, const Py_ssize_t *starts, Py_ssize_t n_segs,
           const Triggers *tr, unsigned char *marks, PyObject *secrets, PyObject *triggered)
{
    SecretScan sc = {0, 0, 0};
    Py_ssize_t k = 0; /* the segment of the last position looked at: starts[k] <= i */
    const unsigned char(*pairs)[256] = tr->pairs;
    Py_UCS1 next = n > 0 ? d[0] : 0;
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        Py_UCS1 first = next;
        next = d[i + 1];
        unsigned char flags = pairs[first][next];
        if (flags == 0) {
            continue;
        }
        if (flags & PAIR_SECRET) {
            Py_ssize_t pos = secret_at_Py_UCS1(d, n, i, &sc);
            if (pos != PY_SSIZE_T_MIN && append_index(secrets, pos) < 0) {
                return -1;
            }
        }
        if (!(flags & (PAIR_TRIGGER | PAIR_WIDE))) {
            continue;
        }
        while (k + 1 < n_segs && starts[k + 1] <= i) {
            k++;
        }
        /* segment k is [starts[k], seg_end); the separator at seg_end belongs to none */
        Py_ssize_t seg_end = starts[k + 1] - 1;
        if (i < starts[k] || marks[k]) {
            continue;
        }
        if (flags & PAIR_WIDE) {
            if (d[i] >= 128 && i < seg_end) {
                marks[k] = 1;
            }
            /* d[i + 1] is seen again as the first of the next pair, or by the tail check */
            continue;
        }
        for (int w = tr->head[ascii_lower(d[i])][ascii_lower(d[i + 1])]; w; w = tr->next[w - 1]) {
            const char *word = tr->words[w - 1];
            Py_ssize_t wl = tr->lengths[w - 1], j = 2;
            if (i + wl > seg_end) {
                continue;
            }
            while (j < wl && ascii_lower(d[i + j]) == (Py_UCS4)(unsigned char)word[j]) {
                j++;
            }
            if (j == wl) {
                marks[k] = 1;
                break;
            }
        }
    }
    /* the last character has no pair of its own */
    if (n > 0 && d[n - 1] >= 128) {
        while (k + 1 < n_segs && starts[k + 1] <= n - 1) {
            k++;
        }
        if (starts[k] <= n - 1 && n - 1 < starts[k + 1] - 1) {
            marks[k] = 1;
        }
    }
    for (Py_ssize_t m = 0; m < n_segs; m++) {
        if (marks[m] && append_index(triggered, m) < 0) {
            return -1;
        }
    }
    return 0;
}

static PyObject *
gates(PyObject *module, PyObject *args)
{
    PyObject *text, *starts_obj, *triggers, *result = NULL;
    Py_ssize_t runs_end;
    Py_buffer table;
    if (!PyArg_ParseTuple(args, "UOnO!y*", &text, &starts_obj, &runs_end, &PyTuple_Type,
                          &triggers, &table)) {
        return NULL;
    }
    PyObject *shape = NULL, *emails = NULL, *spans = NULL, *quads = NULL, *glued = NULL;
    PyObject *aa00 = NULL, *colons = NULL, *secrets = NULL, *triggered = NULL;
    Py_ssize_t *starts = NULL, n_segs = 0;
    unsigned char *marks = NULL;
    Triggers *tr = NULL;
    if (table.len != 256) {
        PyErr_SetString(PyExc_ValueError, "shape_table must be 256 bytes");
        goto done;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    /* The starts first: reading them may run Python code (__index__), which may call here. */
    starts = read_valid_starts(starts_obj, n, &n_segs);
    if (starts == NULL || (tr = triggers_acquire(triggers)) == NULL) {
        goto done;
    }
    shape = PyBytes_FromStringAndSize(NULL, n);
    emails = PyList_New(0);
    spans = PyList_New(0);
    quads = PyList_New(0);
    glued = PyList_New(0);
    aa00 = PyList_New(0);
    colons = PyList_New(0);
    secrets = PyList_New(0);
    triggered = PyList_New(0);
    if (shape == NULL || emails == NULL || spans == NULL || quads == NULL || glued == NULL ||
        aa00 == NULL || colons == NULL || secrets == NULL || triggered == NULL) {
        goto done;
    }
    unsigned char *s = (unsigned char *)PyBytes_AS_STRING(shape);
    const unsigned char *map = table.buf;
    const void *data = PyUnicode_DATA(text);
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        fill_shape_Py_UCS1(data, n, map, s);
        break;
    case PyUnicode_2BYTE_KIND:
        fill_shape_Py_UCS2(data, n, map, s);
        break;
    default:
        fill_shape_Py_UCS4(data, n, map, s);
    }
    int has_colon = PyUnicode_FindChar(text, ':', 0, n, 1) >= 0;
    for (Py_ssize_t i = 0; i + 3 < n;) {
        const unsigned char *a = memchr(s + i, 'A', (size_t)(n - 3 - i));
        if (a == NULL) {
            break;
        }
        i = a - s;
        if (s[i + 1] == 'A' && s[i + 2] == '0' && s[i + 3] == '0') {
            if (append_index(aa00, i) < 0) {
                goto done;
            }
            i += 4;
        }
        else {
            i++;
        }
    }
    if (emails_into(text, starts, n_segs, emails) < 0 ||
        digit_gates_into(s, n, runs_end, spans, quads, glued) < 0 ||
        (has_colon && colon_gates_into(text, colons) < 0)) {
        goto done;
    }
    if (PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND) {
        marks = PyMem_Calloc((size_t)n_segs + 1, 1);
        if (marks == NULL) {
            PyErr_NoMemory();
            goto done;
        }
        if (ucs1_gates(data, n, starts, n_segs, tr, marks, secrets, triggered) < 0) {
            goto done;
        }
    }
    else if (secret_positions_into(text, secrets) < 0 ||
             trigger_segments_into(text, starts, n_segs, tr, triggered) < 0) {
        goto done;
    }
    if (PyList_GET_SIZE(emails) == 0 && PyList_GET_SIZE(spans) == 0 && PyList_GET_SIZE(quads) == 0 &&
        PyList_GET_SIZE(glued) == 0 && PyList_GET_SIZE(aa00) == 0 &&
        PyList_GET_SIZE(colons) == 0 && PyList_GET_SIZE(secrets) == 0 &&
        PyList_GET_SIZE(triggered) == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    result = Py_BuildValue("(OOOOOOOOO)", shape, emails, spans, quads,
                           glued, aa00, colons, secrets, triggered);
done:
    if (tr != NULL) {
        triggers_release(tr);
    }
    PyBuffer_Release(&table);
    PyMem_Free(starts);
    PyMem_Free(marks);
    Py_XDECREF(shape);
    Py_XDECREF(emails);
    Py_XDECREF(spans);
    Py_XDECREF(quads);
    Py_XDECREF(glued);
    Py_XDECREF(aa00);
    Py_XDECREF(colons);
    Py_XDECREF(secrets);
    Py_XDECREF(triggered);
    return result;
}

/* ---- bind: raw findings to Finding objects with their paths ---------------------------------- */

static int
is_identifier(PyObject *key)
{
    /* _structure._IDENTIFIER: [A-Za-z_][A-Za-z0-9_]* (ASCII only) */
    if (!PyUnicode_IS_ASCII(key)) {
        return 0;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(key);
    if (n == 0 || !(c[0] == '_' || (c[0] >= 'A' && c[0] <= 'Z') || (c[0] >= 'a' && c[0] <= 'z'))) {
        return 0;
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        if (!(c[i] == '_' || (c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= 'a' && c[i] <= 'z') ||
              (c[i] >= '0' && c[i] <= '9'))) {
            return 0;
        }
    }
    return 1;
}

static PyObject *dot; /* "." */
#define INDEX_TEXTS 256
static PyObject *index_texts[INDEX_TEXTS]; /* step_text(0) ... step_text(255), made on first use */

/* New reference to _structure._step_text(step): identifiers and small list indices here, the
 * rest (quoting, large indices, keys of other types) by step_text itself. */
static PyObject *
step_text_of(PyObject *step, PyObject *step_text)
{
    if (PyLong_CheckExact(step)) {
        int overflow;
        long index = PyLong_AsLongAndOverflow(step, &overflow);
        if (overflow || index < 0 || index >= INDEX_TEXTS) {
            return PyObject_CallOneArg(step_text, step);
        }
        if (index_texts[index] == NULL) {
            /* indices are not personal data: kept for the process */
            index_texts[index] = PyObject_CallOneArg(step_text, step);
        }
        return Py_XNewRef(index_texts[index]);
    }
    if (PyUnicode_CheckExact(step) && is_identifier(step)) {
        return PyUnicode_Concat(dot, step);
    }
    return PyObject_CallOneArg(step_text, step);
}

static PyObject *dollar, *empty; /* "$", "" */

/* New reference to loc_path(loc): "$" followed by the step texts from the root down. */
static PyObject *
path_of_loc(PyObject *loc, PyObject *step_text)
{
    PyObject *parts = PyList_New(0), *path = NULL;
    if (parts == NULL) {
        return NULL;
    }
    Py_ssize_t depth = 0;
    while (loc != Py_None) {
        if (!PyTuple_Check(loc) || PyTuple_GET_SIZE(loc) != 2 || ++depth > 100000) {
            PyErr_SetString(PyExc_TypeError, "bind: a location is (parent, step) or None");
            goto done;
        }
        PyObject *text = step_text_of(PyTuple_GET_ITEM(loc, 1), step_text);
        if (text == NULL || PyList_Append(parts, text) < 0) {
            Py_XDECREF(text);
            goto done;
        }
        Py_DECREF(text);
        loc = PyTuple_GET_ITEM(loc, 0);
    }
    if (PyList_Append(parts, dollar) == 0 && PyList_Reverse(parts) == 0) {
        path = PyUnicode_Join(empty, parts);
    }
done:
    Py_DECREF(parts);
    return path;
}

/* A new instance of a frozen slots dataclass, each field set through its slot descriptor (what
 * the generated __init__ does with object.__setattr__). */
static PyObject *
new_finding(PyTypeObject *type, PyObject *const *slots, PyObject *const *values)
{
    PyObject *obj = type->tp_alloc(type, 0);
    if (obj == NULL) {
        return NULL;
    }
    for (int i = 0; i < 5; i++) {
        if (Py_TYPE(slots[i])->tp_descr_set(slots[i], obj, values[i]) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

/* New reference to cache[key], computing it with make(key, arg) on a miss. */
static PyObject *
memo(PyObject *cache, PyObject *key, PyObject *(*make)(PyObject *, PyObject *), PyObject *arg)
{
    PyObject *value = PyDict_GetItemWithError(cache, key);
    if (value != NULL) {
        return Py_NewRef(value);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    value = make(key, arg);
    if (value != NULL && PyDict_SetItem(cache, key, value) < 0) {
        Py_CLEAR(value);
    }
    return value;
}

static PyObject *
str_of(PyObject *key, PyObject *unused)
{
    return PyObject_Str(key);
}

static PyObject *two_digits; /* 2, for round(confidence, 2) */

static PyObject *
rounded(PyObject *key, PyObject *round_fn)
{
    return PyObject_CallFunctionObjArgs(round_fn, key, two_digits, NULL);
}

static PyObject *raw_attrs[5]; /* interned "seg", "kind", "start", "end", "confidence" */

/* Across calls: confidences come from a few constants and their adjustments, kinds are the
 * Kind members; neither is personal data. Both stay small (bounded below). */
static PyObject *round_memo, *kind_memo;
#define MEMO_MAX 1024

/* memo() into a module-level cache, cleared when it grows past MEMO_MAX entries. */
static PyObject *
shared_memo(PyObject *cache, PyObject *key, PyObject *(*make)(PyObject *, PyObject *),
            PyObject *arg)
{
    if (PyDict_GET_SIZE(cache) >= MEMO_MAX) {
        PyDict_Clear(cache);
    }
    return memo(cache, key, make, arg);
}

/* The finding type's slot descriptors, looked up once per type. */
static PyTypeObject *slots_type;
static PyObject *slot_descrs[5];

static int
finding_slots(PyTypeObject *type)
{
    static const char *field_names[5] = {"kind", "start", "end", "confidence", "path"};
    if (type == slots_type) {
        return 0;
    }
    PyObject *found[5] = {NULL};
    for (int i = 0; i < 5; i++) {
        /* Data descriptors that set a field directly, as object.__setattr__ does. */
        found[i] = PyObject_GetAttrString((PyObject *)type, field_names[i]);
        if (found[i] == NULL || Py_TYPE(found[i])->tp_descr_set == NULL) {
            if (found[i] != NULL) {
                PyErr_SetString(PyExc_TypeError, "bind: the finding type needs slots");
            }
            for (int k = 0; k <= i; k++) {
                Py_XDECREF(found[k]);
            }
            return -1;
        }
    }
    for (int i = 0; i < 5; i++) {
        Py_XSETREF(slot_descrs[i], found[i]);
    }
    Py_XSETREF(slots_type, (PyTypeObject *)Py_NewRef(type));
    return 0;
}

static PyObject *
bind(PyObject *module, PyObject *args)
{
    PyObject *raws, *parents, *steps, *wanted, *step_text, *round_fn;
    PyTypeObject *finding_type;
    double min_confidence;
    if (!PyArg_ParseTuple(args, "O!O!O!dOO!OO", &PyList_Type, &raws, &PyList_Type, &parents,
                          &PyList_Type, &steps, &min_confidence, &wanted, &PyType_Type,
                          &finding_type, &step_text, &round_fn)) {
        return NULL;
    }
    PyObject *out = NULL, *last_parent = NULL, *last_path = NULL, *step_cache = NULL;
    if (finding_slots(finding_type) < 0) {
        return NULL;
    }
    out = PyList_New(0);
    step_cache = PyDict_New();
    if (out == NULL || step_cache == NULL) {
        goto fail;
    }
    Py_ssize_t n = PyList_GET_SIZE(raws);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *raw = PyList_GET_ITEM(raws, i);
        PyObject *got[5] = {NULL};
        PyObject *values[5] = {NULL};
        PyObject *finding = NULL;
        int ok = 0;
        for (int k = 0; k < 5; k++) {
            got[k] = PyObject_GetAttr(raw, raw_attrs[k]);
            if (got[k] == NULL) {
                goto item_done;
            }
        }
        double confidence = PyFloat_AsDouble(got[4]);
        if (confidence == -1.0 && PyErr_Occurred()) {
            goto item_done;
        }
        if (confidence < min_confidence) {
            ok = 1;
            goto item_done;
        }
        if (wanted != Py_None) {
            int in = PySet_Contains(wanted, got[1]);
            if (in <= 0) {
                ok = in == 0;
                goto item_done;
            }
        }
        Py_ssize_t seg = PyLong_AsSsize_t(got[0]);
        if (seg == -1 && PyErr_Occurred()) {
            goto item_done;
        }
        if (seg < 0 || seg >= PyList_GET_SIZE(parents) || seg >= PyList_GET_SIZE(steps)) {
            PyErr_SetString(PyExc_IndexError, "bind: segment out of range");
            goto item_done;
        }
        PyObject *parent = PyList_GET_ITEM(parents, seg);
        PyObject *step = PyList_GET_ITEM(steps, seg);
        /* Findings come sorted by segment: a record's findings share its parent. */
        if (parent != last_parent) {
            PyObject *path = path_of_loc(parent, step_text);
            if (path == NULL) {
                goto item_done;
            }
            Py_XSETREF(last_path, path);
            Py_XSETREF(last_parent, Py_NewRef(parent));
        }
        if (step == Py_None) {
            values[4] = Py_NewRef(last_path);
        } else {
            /* Only str keys share the cache: 1, 1.0 and True are one dict key, three steps. */
            PyObject *text = PyUnicode_CheckExact(step)
                                 ? memo(step_cache, step, step_text_of, step_text)
                                 : step_text_of(step, step_text);
            if (text == NULL) {
                goto item_done;
            }
            values[4] = PyUnicode_Concat(last_path, text);
            Py_DECREF(text);
            if (values[4] == NULL) {
                goto item_done;
            }
        }
        values[0] = shared_memo(kind_memo, got[1], str_of, NULL);
        values[1] = Py_NewRef(got[2]);
        values[2] = Py_NewRef(got[3]);
        /* Only floats share the memo: 1 == 1.0 would hand an int the float's rounding. */
        values[3] = PyFloat_CheckExact(got[4]) ? shared_memo(round_memo, got[4], rounded, round_fn)
                                                : rounded(got[4], round_fn);
        if (values[0] == NULL || values[3] == NULL) {
            goto item_done;
        }
        finding = new_finding(finding_type, slot_descrs, values);
        if (finding != NULL && PyList_Append(out, finding) == 0) {
            ok = 1;
        }
    item_done:
        Py_XDECREF(finding);
        for (int k = 0; k < 5; k++) {
            Py_XDECREF(got[k]);
            Py_XDECREF(values[k]);
        }
        if (!ok) {
            goto fail;
        }
    }
    goto done;
fail:
    Py_CLEAR(out);
done:
    Py_XDECREF(step_cache);
    Py_XDECREF(last_parent);
    Py_XDECREF(last_path);
    return out;
}

/* For tests: the key table's hash of some bytes, and the (probes, lookups) of the last leaves()
 * call in this process (see KEY_PROBES_BASE). */
static PyObject *
key_table_hash(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Py_hash_t h = key_hash(view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(h);
}

static PyObject *
key_table_stats(PyObject *module, PyObject *unused)
{
    return Py_BuildValue("(nnnn)", last_probes, last_lookups, kept_count, last_moved);
}

static PyMethodDef methods[] = {
    {"collect", collect, METH_VARARGS, "The scannable leaves of a document (see module doc)."},
    {"leaves", leaves, METH_VARARGS, "collect() straight from JSON bytes, or None."},
    {"join", join, METH_VARARGS, "The joined text of a structure scan (see module doc)."},
    {"long_digit_run", long_digit_run, METH_O, "20 digits in a row, or '-' and 19 digits."},
    {"gates", gates, METH_VARARGS, "Every detector's gate hits, or None (see the function)."},
    {"bind", bind, METH_VARARGS, "Raw findings as Finding objects with paths (see module doc)."},
    {"_key_table_hash", key_table_hash, METH_O, "The key table's hash of some bytes (tests)."},
    {"_key_table_stats", key_table_stats, METH_NOARGS, "(probes, lookups) of the last leaves(), keys kept, keys moved."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "tokenveil.pii._speedups",
    "C loops of the structure scan; see _structure.py for the reference in Python.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    for (const char *const *pair = secret_pair_list; *pair; pair++) {
        secret_pairs[(unsigned char)(*pair)[0]][(unsigned char)(*pair)[1]] = 1;
    }
    static const char *hint_names[4] = {"kinds", "negative", "person_container", "decides"};
    for (int i = 0; i < 4; i++) {
        hint_attrs[i] = PyUnicode_InternFromString(hint_names[i]);
        if (hint_attrs[i] == NULL) {
            return NULL;
        }
    }
    static const char *raw_names[5] = {"seg", "kind", "start", "end", "confidence"};
    for (int i = 0; i < 5; i++) {
        raw_attrs[i] = PyUnicode_InternFromString(raw_names[i]);
        if (raw_attrs[i] == NULL) {
            return NULL;
        }
    }
    two_digits = PyLong_FromLong(2);
    dot = PyUnicode_InternFromString(".");
    dollar = PyUnicode_InternFromString("$");
    empty = PyUnicode_InternFromString("");
    round_memo = PyDict_New();
    kind_memo = PyDict_New();
    if (two_digits == NULL || dot == NULL || dollar == NULL || empty == NULL ||
        round_memo == NULL || kind_memo == NULL) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module != NULL &&
        (PyModule_AddIntConstant(module, "KEY_PROBES_BASE", KEY_PROBES_BASE) < 0 ||
         PyModule_AddIntConstant(module, "KEY_PROBES_PER_LOOKUP", KEY_PROBES_PER_LOOKUP) < 0)) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
