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
 * join(values, hints, negative)
 *     The joined text of a structure scan: values not under negative keys first, then the
 *     others, separated by "\0". Returns (text, starts, joined_hints, order, runs_count), order
 *     being None when no value is negative (then joined order == collected order).
 *
 * long_digit_run(buffer)
 *     True when the bytes hold 20 ASCII digits in a row, or "-" and 19 digits: integers that
 *     orjson would read as floats.
 *
 * trigger_segments(text, starts, triggers)
 *     Indices of the segments (text[starts[k]:starts[k+1]-1]) that may hold one of the phrase
 *     trigger words once lower-cased; see the function.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define F_KINDS 1
#define F_NEGATIVE 2
#define F_PERSON 4

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

static int
hint_flags(PyObject *hint)
{
    int flags = 0, truth;
    PyObject *attr;
    static const char *names[3] = {"kinds", "negative", "person_container"};
    static const int bits[3] = {F_KINDS, F_NEGATIVE, F_PERSON};
    for (int i = 0; i < 3; i++) {
        attr = PyObject_GetAttrString(hint, names[i]);
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
    if (flags & F_KINDS) {
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
        order = PyList_New(n);
        if (joined == NULL || joined_hints == NULL || order == NULL) {
            goto done;
        }
        Py_ssize_t front = 0, back = runs_count;
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t j = flags[i] ? back++ : front++;
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL) {
                goto done;
            }
            PyList_SET_ITEM(order, j, index);
            PyObject *value = PyList_GET_ITEM(values, i), *hint = PyList_GET_ITEM(hints, i);
            Py_INCREF(value);
            Py_INCREF(hint);
            PyList_SET_ITEM(joined, j, value);
            PyList_SET_ITEM(joined_hints, j, hint);
        }
    }
    starts = PyList_New(n + 1);
    if (starts == NULL) {
        goto done;
    }
    Py_ssize_t offset = 0;
    for (Py_ssize_t j = 0; j <= n; j++) {
        PyObject *start = PyLong_FromSsize_t(offset);
        if (start == NULL) {
            goto done;
        }
        PyList_SET_ITEM(starts, j, start);
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

/* Segments of `text` (split at `starts`) that hold a non-ASCII character or, ASCII-lower-cased,
 * one of the ASCII `triggers`: a superset of the segments whose str.lower() holds a trigger
 * (non-ASCII segments are all kept, since Unicode case mapping can produce ASCII, e.g. the
 * Kelvin sign). Sorted indices. */
static PyObject *
trigger_segments(PyObject *module, PyObject *args)
{
    PyObject *text, *starts_obj, *triggers, *result = NULL;
    Py_ssize_t *starts = NULL;
    /* pair[a][b]: some trigger starts with the ASCII letters a, b. */
    static unsigned char pair[128][128];
    const char *words[128];
    Py_ssize_t lengths[128];
    Py_ssize_t n_words = 0;
    if (!PyArg_ParseTuple(args, "UOO!", &text, &starts_obj, &PyTuple_Type, &triggers)) {
        return NULL;
    }
    memset(pair, 0, sizeof(pair));
    for (Py_ssize_t t = 0; t < PyTuple_GET_SIZE(triggers); t++) {
        PyObject *word = PyTuple_GET_ITEM(triggers, t);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "triggers must be str");
            return NULL;
        }
        if (!PyUnicode_IS_ASCII(word) || PyUnicode_GET_LENGTH(word) < 2) {
            if (PyUnicode_GET_LENGTH(word) < 2) {
                PyErr_SetString(PyExc_ValueError, "triggers are at least two characters");
                return NULL;
            }
            continue; /* can only occur in non-ASCII segments, which are all kept */
        }
        if (n_words == 128) {
            PyErr_SetString(PyExc_ValueError, "at most 128 ASCII triggers");
            return NULL;
        }
        words[n_words] = (const char *)PyUnicode_DATA(word);
        lengths[n_words] = PyUnicode_GET_LENGTH(word);
        pair[(unsigned char)words[n_words][0]][(unsigned char)words[n_words][1]] = 1;
        n_words++;
    }
    PyObject *seq = PySequence_Fast(starts_obj, "starts must be a sequence of int");
    if (seq == NULL) {
        return NULL;
    }
    Py_ssize_t n_segs = PySequence_Fast_GET_SIZE(seq);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    starts = PyMem_Malloc((size_t)(n_segs + 1) * sizeof(Py_ssize_t));
    if (starts == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t k = 0; k < n_segs; k++) {
        starts[k] = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(seq, k));
        if (starts[k] == -1 && PyErr_Occurred()) {
            goto done;
        }
    }
    starts[n_segs] = length + 1;
    result = PyList_New(0);
    if (result == NULL) {
        goto done;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (Py_ssize_t k = 0; k < n_segs; k++) {
        Py_ssize_t seg_start = starts[k] < 0 ? 0 : starts[k];
        Py_ssize_t seg_end = starts[k + 1] - 1;
        if (seg_end > length) {
            seg_end = length;
        }
        int keep = 0;
        for (Py_ssize_t i = seg_start; i < seg_end && !keep; i++) {
            Py_UCS4 c0 = PyUnicode_READ(kind, data, i);
            if (c0 >= 128) {
                keep = 1;
                break;
            }
            if (i + 1 >= seg_end) {
                break;
            }
            Py_UCS4 c1 = PyUnicode_READ(kind, data, i + 1);
            if (c1 >= 128) {
                keep = 1;
                break;
            }
            if (c0 >= 'A' && c0 <= 'Z') {
                c0 += 32;
            }
            if (c1 >= 'A' && c1 <= 'Z') {
                c1 += 32;
            }
            if (!pair[c0][c1]) {
                continue;
            }
            for (Py_ssize_t w = 0; w < n_words && !keep; w++) {
                const char *word = words[w];
                Py_ssize_t wl = lengths[w];
                if ((Py_UCS4)(unsigned char)word[0] != c0 ||
                    (Py_UCS4)(unsigned char)word[1] != c1 || i + wl > seg_end) {
                    continue;
                }
                Py_ssize_t j = 2;
                for (; j < wl; j++) {
                    Py_UCS4 c = PyUnicode_READ(kind, data, i + j);
                    if (c >= 'A' && c <= 'Z') {
                        c += 32;
                    }
                    if (c != (Py_UCS4)(unsigned char)word[j]) {
                        break;
                    }
                }
                keep = j == wl;
            }
        }
        if (keep) {
            PyObject *index = PyLong_FromSsize_t(k);
            if (index == NULL || PyList_Append(result, index) < 0) {
                Py_XDECREF(index);
                Py_CLEAR(result);
                goto done;
            }
            Py_DECREF(index);
        }
    }
done:
    Py_DECREF(seq);
    PyMem_Free(starts);
    return result;
}

static PyMethodDef methods[] = {
    {"collect", collect, METH_VARARGS, "The scannable leaves of a document (see module doc)."},
    {"join", join, METH_VARARGS, "The joined text of a structure scan (see module doc)."},
    {"long_digit_run", long_digit_run, METH_O, "20 digits in a row, or '-' and 19 digits."},
    {"trigger_segments", trigger_segments, METH_VARARGS, "Segments that may hold a trigger."},
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
    return PyModule_Create(&module_def);
}
