/* dagrt.array._native: the base class of dagrt.ndarray, with the recording
 * path's run-now case for the hottest small calls in C.
 *
 * ``Array`` holds an array's three fields (``_data``: the NumPy storage,
 * ``_var``: its root buffer's scheduling state, ``_base``) and fills these
 * type slots: the arithmetic, bitwise and comparison operators, ``@``, unary
 * ``- + abs ~``, ``x[key]``, ``x[key] = v``, ``len`` and iteration. Each slot first
 * tests the recording path's predicate for running now (``array.record``):
 * every dagrt operand is a ready host array (no pending write, no error, not
 * on a device; the output of an in-place op or setitem also has no pending
 * read), the op's work is at most ``POLICY.small`` bytes and no profiler
 * watches. Then it makes NumPy's own call on the storage, so the result,
 * dtype, warnings and errors are NumPy's at the caller's line, and wraps a
 * new result as a ready array. In every other case it calls the Python
 * implementation (the ``Methods`` mixin's operator, or ``ndarray._getitem``,
 * ``_setitem``): C takes no decision of its own beyond the fast case, whose
 * tests mirror those of the Python code it short-cuts:
 *
 * - binary operators: ``make_operator`` in ``ops.elementwise`` (a same-shape
 *   array or a scalar operand; both orders),
 * - ``@``: ``reductions.contraction`` (work: the larger operand times the
 *   output's last dimension),
 * - ``x[key]``, ``x[key] = v``, ``len``, ``iter``: ``ndarray._getitem``,
 *   ``_setitem``, ``_iter``.
 *
 * ``configure`` gives the module the Python objects it reads (the ndarray
 * class, the mixin, ``FRESH``, ``Var``, the engine, the policy, ``view_of``,
 * ``var_of``);
 * until then every slot takes the Python path.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <time.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

typedef struct {
    PyObject_HEAD
    PyObject *data;
    PyObject *var;
    PyObject *base;
    PyObject *weakrefs;
} Array;

static PyTypeObject ArrayType;

/* Set by configure(). */
static int configured = 0;
static PyTypeObject *Exact;       /* dagrt.ndarray: only its instances take the C case */
static PyObject *Methods;         /* the op table's mixin: the Python operators */
static PyObject *Fresh;           /* engine.graph.FRESH */
static PyTypeObject *VarType;     /* engine.graph.Var */
static PyObject *Engine, *Policy, *ViewOf;
static PyObject *Observed;        /* record.observed (``observe_with``) */
static PyObject *PkgDir;          /* engine.graph.PKG_DIR: dagrt's own code */
static PyObject *s_seq, *s_on_ran;
static Py_ssize_t off_n, off_nw, off_error, off_device, off_last_writer, off_readers;
                                  /* Var's slots */
static PyObject *s_observers, *s_small, *s_getitem, *s_setitem;

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

/* -- the predicate ---------------------------------------------------------- */

static int
is_zero(PyObject *o)
{
    return o != NULL && PyLong_CheckExact(o) && PyObject_Not(o) == 1;
}

/* No pending write, no error, host memory (``var.nw or var.error is not None
 * or var.device is not None`` is false). */
static int
readable(PyObject *var)
{
    if (var == Fresh)
        return 1;
    if (var == NULL || !PyObject_TypeCheck(var, VarType))
        return 0;
    return is_zero(SLOT(var, off_nw)) && SLOT(var, off_error) == Py_None &&
           SLOT(var, off_device) == Py_None;
}

/* Readable, and no pending use at all (safe to write). */
static int
idle(PyObject *var)
{
    return var == Fresh || (readable(var) && is_zero(SLOT(var, off_n)));
}

/* ``not ENGINE.observers`` */
static int
unobserved(void)
{
    PyObject *o = PyObject_GetAttr(Engine, s_observers);
    if (o == NULL) {
        PyErr_Clear();
        return 0;
    }
    int r = PyObject_IsTrue(o);
    Py_DECREF(o);
    if (r < 0)
        PyErr_Clear();
    return r == 0;
}

/* ``work <= POLICY.small``: 0 (no), 1 (yes), or WATCHED (yes, and observers
 * watch: the op is shown to them by ``shown``). */
#define WATCHED 2

static int
admits(Py_ssize_t work)
{
    PyObject *o = PyObject_GetAttr(Policy, s_small);
    if (o == NULL) {
        PyErr_Clear();
        return 0;
    }
    long long small = PyLong_AsLongLong(o);
    Py_DECREF(o);
    if (small == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return work > small ? 0 : unobserved() ? 1 : Observed != NULL ? WATCHED : 0;
}

/* An op over ``POLICY.small`` runs now too when the cost model predicts it
 * cheaper than a hand-off (``Policy.admits``'s second test, made by the
 * model's own ``cheap``), with no observers: 1, or LEARNED where the model
 * wants it timed (its thread's CPU time: ``learnt``, as ``record._timed``
 * does), else 0. */
#define LEARNED 3

static PyObject *s_costs, *s_observe, *s_grant, *s_rates, *s_limit, *s_runs;

static double now(void);

/* The model's verdicts, kept here between the ops it times: ``costs.grant``
 * answers an op of a kind and work with the verdict and, when it is "run
 * now, untimed", how many ops after it would get the same answer before the
 * next timed one and until when (the regime's window). Those ops run now
 * without a Python call while the kind's rate still predicts them cheap
 * under the current limit (and the model's ``runs`` is the same object: a
 * test that replaces it starts afresh); each is owed to the model, which
 * counts them (its ``runs`` and the regime's progress) at the next ask of
 * that kind and work. Asking for every op cost 1-2 us of Python, a few per
 * cent of a 0.1 ms op (the heat example's stencil). */
#define CREDITS 32

static struct {
    PyObject *key, *runs;  /* (strong) */
    Py_ssize_t work;
    long credit, owed;
    double until;
} credits[CREDITS];

/* ``key``'s rate times ``work`` is under ``costs.limit``. */
static int
still_cheap(PyObject *costs, PyObject *key, Py_ssize_t work)
{
    PyObject *rates = PyObject_GetAttr(costs, s_rates), *limit = PyObject_GetAttr(costs, s_limit);
    PyObject *rate = rates != NULL && PyDict_CheckExact(rates) ?
        PyDict_GetItemWithError(rates, key) : NULL;
    int yes = rate != NULL && limit != NULL && PyFloat_Check(rate) && PyFloat_Check(limit) &&
              PyFloat_AS_DOUBLE(rate) * (double)work < PyFloat_AS_DOUBLE(limit);
    Py_XDECREF(rates);
    Py_XDECREF(limit);
    if (PyErr_Occurred())
        PyErr_Clear();
    return yes;
}

/* ``costs.grant(key, work, owed[, ask])``: the verdict as ``cheap``'s (0,
 * 1 or 2), -1 on an error (cleared); ``ask`` false: only the owed ops. */
static long
grant(PyObject *costs, int slot, PyObject *key, Py_ssize_t work, long owed, int ask)
{
    PyObject *n = PyLong_FromSsize_t(work), *o = PyLong_FromLong(owed);
    PyObject *r = n != NULL && o != NULL ? PyObject_CallMethodObjArgs(
        costs, s_grant, key, n, o, ask ? Py_True : Py_False, NULL) : NULL;
    Py_XDECREF(n);
    Py_XDECREF(o);
    long verdict = -1, credit = 0;
    double until = 0.0;
    if (r != NULL && ask && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 3) {
        verdict = PyLong_AsLong(PyTuple_GET_ITEM(r, 0));
        credit = PyLong_AsLong(PyTuple_GET_ITEM(r, 1));
        until = PyFloat_AsDouble(PyTuple_GET_ITEM(r, 2));
    }
    Py_XDECREF(r);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    if (ask && credit > 0) {
        PyObject *runs = PyObject_GetAttr(costs, s_runs);
        if (runs == NULL) {
            PyErr_Clear();
            return verdict;
        }
        Py_INCREF(key);
        Py_XSETREF(credits[slot].key, key);
        Py_XSETREF(credits[slot].runs, runs);
        credits[slot].work = work;
        credits[slot].credit = credit;
        credits[slot].owed = 0;
        credits[slot].until = until;
    }
    return verdict;
}

static int cheap_interned(PyObject *key, Py_ssize_t work);

static int
cheap(PyObject *key, Py_ssize_t work)
{
    if (!PyUnicode_CheckExact(key) || PyUnicode_CHECK_INTERNED(key))
        return cheap_interned(key, work);
    Py_INCREF(key);  /* (a ufunc's ``__name__`` is a new string each time) */
    PyUnicode_InternInPlace(&key);
    int verdict = cheap_interned(key, work);
    Py_DECREF(key);
    return verdict;
}

/* ``cheap`` of a kind named by an interned string (found by identity). */
static int
cheap_interned(PyObject *key, Py_ssize_t work)
{
    if (!unobserved())
        return 0;
    PyObject *costs = PyObject_GetAttr(Policy, s_costs);
    if (costs == NULL) {
        PyErr_Clear();
        return 0;
    }
    uint64_t h = ((uint64_t)(size_t)key ^ (uint64_t)work) * 0x9E3779B97F4A7C15ull;
    int slot = (int)(h >> 59), probe;  /* (CREDITS 32: 5 bits; 4 places to look) */
    for (probe = 0; probe < 4; probe++) {
        int at = (slot + probe) % CREDITS;
        if ((credits[at].key == key && credits[at].work == work) || credits[at].key == NULL) {
            slot = at;
            break;
        }
    }
    long owed = 0, verdict;
    if (credits[slot].key == key && credits[slot].work == work) {
        PyObject *runs = PyObject_GetAttr(costs, s_runs);
        int same = runs != NULL && runs == credits[slot].runs;
        if (runs == NULL)
            PyErr_Clear();
        Py_XDECREF(runs);
        if (same && credits[slot].credit > 0 && now() < credits[slot].until &&
            still_cheap(costs, key, work)) {
            credits[slot].credit--;
            credits[slot].owed++;
            Py_DECREF(costs);
            return 1;
        }
        owed = same ? credits[slot].owed : 0;
    }
    else if (credits[slot].key != NULL && credits[slot].owed > 0)  /* another's, settled */
        grant(costs, slot, credits[slot].key, credits[slot].work, credits[slot].owed, 0);
    credits[slot].credit = credits[slot].owed = 0;
    verdict = grant(costs, slot, key, work, owed, 1);
    Py_DECREF(costs);
    return verdict == 2 ? LEARNED : verdict == 1 ? 1 : 0;  /* (2: ``policy.TIME``) */
}

static PyObject *name_object(const char *name);

static PyObject *s_count, *s___name__;

/* ``costs.count(func.__name__, work)``: an op over ``small`` that did not
 * ask the cost model ran now (the regime's progress); 0, or -1 with an error. */
static int
counted(PyObject *func, Py_ssize_t work)
{
    PyObject *costs = PyObject_GetAttr(Policy, s_costs), *n = PyLong_FromSsize_t(work);
    PyObject *name = PyObject_GetAttr(func, s___name__);
    PyObject *r = costs != NULL && n != NULL && name != NULL ?
        PyObject_CallMethodObjArgs(costs, s_count, name, n, NULL) : NULL;
    Py_XDECREF(costs);
    Py_XDECREF(n);
    Py_XDECREF(name);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* ``admits(work)``, or for an op over ``small`` the cost model (``cheap``). */
static int
admits_op(const char *name, Py_ssize_t work)
{
    int admitted = admits(work);
    if (admitted)
        return admitted;
    PyObject *key = name_object(name);
    if (key == NULL) {
        PyErr_Clear();
        return 0;
    }
    admitted = cheap(key, work);
    Py_DECREF(key);
    return admitted;
}

static double
seconds(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux, as Python's) */
static double
now(void)
{
    return seconds(CLOCK_MONOTONIC);
}

/* The calling thread's CPU time (``time.thread_time()``). */
static double
cpu_now(void)
{
    return seconds(CLOCK_THREAD_CPUTIME_ID);
}

/* When an op admitted as ``admitted`` starts: its clock (0: not timed). */
static double
start(int admitted)
{
    return admitted == WATCHED ? now() : admitted == LEARNED ? cpu_now() : 0.0;
}

/* ``r`` (stolen, returned), an op run as LEARNED from CPU time ``c0``: the
 * cost model learns its time (``costs.observe(name, work, seconds)``). */
static PyObject *
learnt(PyObject *r, PyObject *key, Py_ssize_t work, double c0)
{
    if (r == NULL)
        return NULL;
    double seconds = cpu_now() - c0;
    PyObject *costs = PyObject_GetAttr(Policy, s_costs), *n = PyLong_FromSsize_t(work);
    PyObject *t = PyFloat_FromDouble(seconds);
    PyObject *ok = costs != NULL && n != NULL && t != NULL ?
        PyObject_CallMethodObjArgs(costs, s_observe, key, n, t, NULL) : NULL;
    Py_XDECREF(costs);
    Py_XDECREF(n);
    Py_XDECREF(t);
    if (ok == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    Py_DECREF(ok);
    return r;
}

/* ``Var()``, without calling its Python ``__init__``: the same fields. */
static PyObject *
new_var(void)
{
    PyObject *var = VarType->tp_alloc(VarType, 0), *zero = PyLong_FromLong(0);
    if (var == NULL || zero == NULL) {
        Py_XDECREF(var);
        return NULL;
    }
    const Py_ssize_t none[4] = {off_last_writer, off_error, off_device, 0};
    for (int i = 0; none[i]; i++)
        SLOT(var, none[i]) = Py_NewRef(Py_None);
    SLOT(var, off_n) = Py_NewRef(zero);
    SLOT(var, off_nw) = zero;
    SLOT(var, off_readers) = PyTuple_New(0);
    return var;
}

/* ``var_of(x)`` for a dagrt array (borrowed): a new root gets a state of its own. */
static PyObject *
state_of(PyObject *x)
{
    Array *a = (Array *)x;
    if (a->var == Fresh) {
        PyObject *var = new_var();
        if (var == NULL)
            return NULL;
        if (a->var == Fresh)  /* (still: the allocation may have run another thread) */
            Py_SETREF(a->var, var);
        else
            Py_DECREF(var);
    }
    return a->var;
}

/* Small caches of the objects a profile's entries repeat: an op's name (the
 * C string's address is its key), its shape (that of the op before) and its
 * recording site ``(code, lasti)`` (a loop records from the same few sites).
 * New references. */
#define CACHED 64

static PyObject *
name_object(const char *name)
{
    static struct { const char *key; PyObject *value; } names[CACHED];
    size_t i = ((size_t)name >> 3) % CACHED;
    if (names[i].key != name) {
        PyObject *value = PyUnicode_InternFromString(name);
        if (value == NULL)
            return NULL;
        Py_XSETREF(names[i].value, value);
        names[i].key = name;
    }
    return Py_NewRef(names[i].value);
}

static PyObject *
shape_object(int nd, const npy_intp *dims)
{
    static PyObject *last;  /* the shape of the op before, as a tuple */
    int same = last != NULL && PyTuple_GET_SIZE(last) == nd;
    for (int i = 0; same && i < nd; i++)
        same = PyLong_AsSsize_t(PyTuple_GET_ITEM(last, i)) == dims[i];
    if (!same) {
        PyObject *shape = PyTuple_New(nd);
        for (int i = 0; shape != NULL && i < nd; i++) {
            PyObject *d = PyLong_FromSsize_t(dims[i]);
            if (d == NULL)
                Py_CLEAR(shape);
            else
                PyTuple_SET_ITEM(shape, i, d);
        }
        if (shape == NULL)
            return NULL;
        Py_XSETREF(last, shape);
    }
    return Py_NewRef(last);
}

static PyObject *
site_object(PyCodeObject *code, int lasti)  /* (steals ``code``) */
{
    static struct { PyCodeObject *code; int lasti; PyObject *site; } sites[CACHED];
    size_t i = (((size_t)code >> 4) ^ (size_t)lasti) % CACHED;
    if (sites[i].code != code || sites[i].lasti != lasti || sites[i].site == NULL) {
        PyObject *at = PyLong_FromLong(lasti);
        PyObject *site = at != NULL ? PyTuple_Pack(2, (PyObject *)code, at) : NULL;
        Py_XDECREF(at);
        if (site == NULL) {
            Py_DECREF(code);
            return NULL;
        }
        Py_XSETREF(sites[i].site, site);  /* (holds the code while cached) */
        sites[i].code = code;
        sites[i].lasti = lasti;
    }
    Py_DECREF(code);
    return Py_NewRef(sites[i].site);
}

/* ``record.observed`` in C, for an op called from the user's own code (the
 * calling frame is the recording site): the entry ``Scheduler.ran_now``
 * gives the observers, ``(seq, name, site, shape, dtype, t0, t1, len(writes),
 * *writes, *reads)``. 1: shown; 0: the caller is dagrt's code (the Python
 * path walks to the user's frame); -1: an error. */
static int
show_here(const char *name, PyObject *out, PyObject *operands, double t0, double t1)
{
    PyFrameObject *frame = PyEval_GetFrame();
    if (frame == NULL)
        return 0;
    PyCodeObject *code = PyFrame_GetCode(frame);
    Py_ssize_t own = PyUnicode_Tailmatch(code->co_filename, PkgDir, 0, PY_SSIZE_T_MAX, -1);
    if (own != 0) {
        Py_DECREF(code);
        return own < 0 ? -1 : 0;
    }
    PyObject *site = site_object(code, PyFrame_GetLasti(frame));
    PyObject *shape = Py_None, *dtype = Py_None, *write = NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(operands), nwrites = 0, nreads = 0;
    PyObject *reads[3];
    if (site == NULL)
        return -1;
    Py_INCREF(shape);
    Py_INCREF(dtype);
    if (Py_TYPE(out) == Exact && PyArray_Check(((Array *)out)->data)) {
        PyArrayObject *data = (PyArrayObject *)((Array *)out)->data;
        write = state_of(out);
        Py_SETREF(shape, shape_object(PyArray_NDIM(data), PyArray_DIMS(data)));
        Py_SETREF(dtype, Py_NewRef((PyObject *)PyArray_DESCR(data)));
        nwrites = 1;
    }
    for (Py_ssize_t i = 0; i < n && i < 3; i++) {
        PyObject *x = PyTuple_GET_ITEM(operands, i);
        if (Py_TYPE(x) == Exact && (reads[nreads] = state_of(x)) != NULL)
            nreads++;
    }
    PyObject *counter = PyObject_GetAttr(Engine, s_seq);
    PyObject *seq = counter != NULL ? PyIter_Next(counter) : NULL;
    Py_XDECREF(counter);
    PyObject *entry = NULL;
    if (seq != NULL && shape != NULL && dtype != NULL && (nwrites == 0 || write != NULL) &&
        !PyErr_Occurred() && (entry = PyTuple_New(8 + nwrites + nreads)) != NULL) {
        PyObject *items[8] = {seq, name_object(name), site, shape, dtype,
                              PyFloat_FromDouble(t0), PyFloat_FromDouble(t1),
                              PyLong_FromSsize_t(nwrites)};
        for (int i = 0; i < 8; i++)
            PyTuple_SET_ITEM(entry, i, items[i]);  /* (steals; NULLs checked below) */
        seq = site = shape = dtype = NULL;
        if (nwrites) {
            Py_INCREF(write);
            PyTuple_SET_ITEM(entry, 8, write);
        }
        for (Py_ssize_t i = 0; i < nreads; i++) {
            Py_INCREF(reads[i]);
            PyTuple_SET_ITEM(entry, 8 + nwrites + i, reads[i]);
        }
        for (int i = 0; i < 8; i++)
            if (PyTuple_GET_ITEM(entry, i) == NULL)
                Py_CLEAR(entry);
        if (entry != NULL)  /* (in no cycle: nothing it holds refers to a profile's log) */
            PyObject_GC_UnTrack(entry);
    }
    Py_XDECREF(seq);
    Py_XDECREF(site);
    Py_XDECREF(shape);
    Py_XDECREF(dtype);
    if (entry == NULL)
        return -1;
    PyObject *observers = PyObject_GetAttr(Engine, s_observers);
    PyObject *list = observers != NULL ? PySequence_Fast(observers, "observers") : NULL;
    Py_XDECREF(observers);
    int ok = list != NULL;
    for (Py_ssize_t i = 0; ok && i < PySequence_Fast_GET_SIZE(list); i++) {
        PyObject *done = PyObject_CallMethodOneArg(PySequence_Fast_GET_ITEM(list, i),
                                                   s_on_ran, entry);
        ok = done != NULL;
        Py_XDECREF(done);
    }
    Py_XDECREF(list);
    Py_DECREF(entry);
    return ok ? 1 : -1;
}

/* ``r``, the result of an op run now from ``t0`` (stolen, returned); if
 * observers watch (``admitted`` is WATCHED), the op is shown to them first as
 * a slice on the caller's track, as ``record._timed`` shows the ops the Python
 * path runs now (``show_here``, else ``record.observed``); if the cost model
 * admitted it (LEARNED, ``t0`` its thread's CPU time), the model learns its
 * time. Its operands: ``a`` and ``b`` (NULL for a unary op). */
static PyObject *learnt(PyObject *r, PyObject *key, Py_ssize_t work, double c0);

static PyObject *
shown(PyObject *r, int admitted, const char *name, double t0, Py_ssize_t work, PyObject *a,
      PyObject *b)
{
    if (r != NULL && admitted == LEARNED) {
        PyObject *key = name_object(name);
        if (key == NULL) {
            Py_DECREF(r);
            return NULL;
        }
        r = learnt(r, key, work, t0);
        Py_DECREF(key);
        return r;
    }
    if (r == NULL || admitted != WATCHED)
        return r;
    double t1 = now();
    PyObject *operands = b != NULL ? PyTuple_Pack(2, a, b) : PyTuple_Pack(1, a);
    if (operands == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    int done = show_here(name, r, operands, t0, t1);
    if (done == 0) {  /* called from dagrt's own code: the Python path finds the site */
        PyObject *ok = PyObject_CallFunction(Observed, "sOOdd", name, r, operands, t0, t1);
        done = ok == NULL ? -1 : 1;
        Py_XDECREF(ok);
    }
    Py_DECREF(operands);
    if (done < 0) {
        Py_DECREF(r);
        return NULL;
    }
    return r;
}

/* The NumPy storage of a ready host dagrt array (borrowed), else NULL. */
static PyArrayObject *
host_storage(PyObject *x)
{
    if (!configured || Py_TYPE(x) != Exact)
        return NULL;
    Array *a = (Array *)x;
    if (a->data == NULL || !PyArray_CheckExact(a->data) || !readable(a->var))
        return NULL;
    return (PyArrayObject *)a->data;
}

/* A ready host dagrt array's storage, or a NumPy array: an operand or a value
 * to assign from that an op run now reads (the Python path reads a NumPy
 * array before the call returns too). */
static PyArrayObject *
host_array(PyObject *x)
{
    return PyArray_CheckExact(x) ? (PyArrayObject *)x : host_storage(x);
}

static int
is_scalar(PyObject *x)
{
    return PyFloat_Check(x) || PyLong_Check(x) || PyComplex_Check(x) ||
           PyArray_IsScalar(x, Generic);
}

/* ``x`` is a list or tuple (nested) of Python numbers and NumPy scalars, or a
 * range: NumPy's conversion takes it as it is, with no dagrt array in it to
 * wait for (``x[1:3] = [1, 2]``, ``m[0] = (1, 2, 3)``). */
static int
plain_sequence(PyObject *x, int depth)
{
    if (PyRange_Check(x))
        return 1;
    if (depth > NPY_MAXDIMS || !(PyList_CheckExact(x) || PyTuple_CheckExact(x)))
        return 0;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(x);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(x, i);
        if (!is_scalar(item) && !plain_sequence(item, depth + 1))
            return 0;
    }
    return 1;
}

static int
same_shape(PyArrayObject *a, PyArrayObject *b)
{
    int nd = PyArray_NDIM(a);
    return nd == PyArray_NDIM(b) &&
           memcmp(PyArray_DIMS(a), PyArray_DIMS(b), nd * sizeof(npy_intp)) == 0;
}

/* The bytes of the result of an elementwise op on ``a`` and ``b`` (NumPy's
 * broadcasting, the wider itemsize), or -1: their shapes do not broadcast. */
static Py_ssize_t
broadcast_bytes(PyArrayObject *a, PyArrayObject *b)
{
    int na = PyArray_NDIM(a), nb = PyArray_NDIM(b), nd = na > nb ? na : nb;
    Py_ssize_t n = PyArray_ITEMSIZE(a) > PyArray_ITEMSIZE(b) ? PyArray_ITEMSIZE(a)
                                                               : PyArray_ITEMSIZE(b);
    for (int i = 1; i <= nd; i++) {
        npy_intp x = i <= na ? PyArray_DIM(a, na - i) : 1;
        npy_intp y = i <= nb ? PyArray_DIM(b, nb - i) : 1;
        if (x != y && x != 1 && y != 1)
            return -1;
        n *= x == 1 ? y : x;
    }
    return n;
}

/* The work of an elementwise op on storage ``a`` and ``b`` (either may be
 * NULL: a scalar): the bytes of its result, or -1 if the shapes do not
 * broadcast. */
static Py_ssize_t
binary_work(PyArrayObject *a, PyArrayObject *b)
{
    if (a == NULL || b == NULL)
        return a != NULL ? PyArray_NBYTES(a) : b != NULL ? PyArray_NBYTES(b) : 0;
    if (!same_shape(a, b))
        return broadcast_bytes(a, b);
    return PyArray_NBYTES(a) > PyArray_NBYTES(b) ? PyArray_NBYTES(a) : PyArray_NBYTES(b);
}

/* ``r`` views a new array that nothing else holds (NumPy's result made by
 * reshaping or slicing a temporary of its own: ``np.tile``, a reshape's copy):
 * as private as an array of its own (NumPy returns it so). */
static int
private_view(PyArrayObject *r)
{
    PyObject *b = PyArray_BASE(r);
    return b != NULL && PyArray_CheckExact(b) && Py_REFCNT(b) == 1 &&
           PyArray_BASE((PyArrayObject *)b) == NULL &&
           PyArray_CHKFLAGS((PyArrayObject *)b, NPY_ARRAY_OWNDATA);
}

/* A new ready dagrt array around a fresh NumPy result (steals ``r``: an array
 * of its own or a ``private_view``), or NumPy's scalar; NULL without an error
 * if ``r`` is something else (then dropped: the caller takes the Python path,
 * which wraps it as it should). */
static PyObject *
wrap(PyObject *r)
{
    if (r == NULL || PyArray_IsScalar(r, Generic))
        return r;  /* (``a @ b`` of vectors: NumPy's scalar, as the Python path) */
    if (!PyArray_CheckExact(r) || (PyArray_BASE((PyArrayObject *)r) != NULL &&
                                   !private_view((PyArrayObject *)r))) {
        Py_DECREF(r);
        return NULL;
    }
    Array *a = (Array *)Exact->tp_alloc(Exact, 0);
    if (a == NULL) {
        Py_DECREF(r);
        return NULL;
    }
    a->data = r;
    Py_INCREF(Fresh);
    a->var = Fresh;
    Py_INCREF(Py_None);
    a->base = Py_None;
    return (PyObject *)a;
}

/* -- the Python path ---------------------------------------------------------- */

static PyObject *
not_configured(void)
{
    PyErr_SetString(PyExc_RuntimeError, "dagrt: the native module is not configured");
    return NULL;
}

static PyObject *
call2(PyObject *owner, PyObject *name, PyObject *a, PyObject *b)
{
    PyObject *f = PyObject_GetAttr(owner, name);
    if (f == NULL)
        return NULL;
    PyObject *args[2] = {a, b};
    PyObject *r = PyObject_Vectorcall(f, args, 2, NULL);
    Py_DECREF(f);
    return r;
}

/* ``v <op> w`` where one of them is a dagrt array: its forward operator, or
 * the other's reflected one, as Python's own dispatch would call them. */
static PyObject *
python_binary(PyObject *v, PyObject *w, PyObject *forward, PyObject *reflected)
{
    if (!configured)
        return not_configured();
    if (PyObject_TypeCheck(v, &ArrayType)) {
        PyObject *r = call2(Methods, forward, v, w);
        if (r != Py_NotImplemented || !PyObject_TypeCheck(w, &ArrayType) ||
            Py_TYPE(w) == Py_TYPE(v))
            return r;
        Py_DECREF(r);
    }
    return call2(Methods, reflected, w, v);
}

/* ``array.ndarray.view_of(base, view)`` (steals ``view``): a dagrt view of
 * ``base``'s storage sharing its state (a new root's first: ``state_of``);
 * made here when ``base`` has no pending write (else by ``view_of``, which
 * also restores the write flag a kernel writing back may hold). */
static PyObject *
view_of(PyObject *base, PyObject *view)
{
    Array *b = (Array *)base;
    if (b->var == Fresh && b->base == Py_None && state_of(base) == NULL) {
        Py_DECREF(view);
        return NULL;
    }
    if (b->var == Fresh || b->var == NULL || b->base == NULL ||
        !PyObject_TypeCheck(b->var, VarType) || !is_zero(SLOT(b->var, off_nw))) {
        PyObject *r = PyObject_CallFunctionObjArgs(ViewOf, base, view, NULL);
        Py_DECREF(view);
        return r;
    }
    Array *a = (Array *)Exact->tp_alloc(Exact, 0);
    if (a == NULL) {
        Py_DECREF(view);
        return NULL;
    }
    a->data = view;
    Py_INCREF(b->var);
    a->var = b->var;
    a->base = b->base == Py_None ? base : b->base;
    Py_INCREF(a->base);
    return (PyObject *)a;
}

/* -- operators ---------------------------------------------------------------- */

/* NumPy's temporary elision, on NumPy's conditions (``temp_elide.c``): ``x``
 * is a dagrt array that only the interpreter's stack holds, with storage of
 * its own that nothing else holds or uses, of a number (or bool) dtype, writeable, of at
 * least ``ELIDE_BYTES`` (``rules.ELIDE_BYTES``), and ``other`` (storage ``o``,
 * else a scalar) has its shape or none and casts safely to its dtype: the
 * result of ``x <op> other`` has ``x``'s dtype and shape, and NumPy's in-place
 * operator writes it into ``x`` (no new array: an allocation, and at this
 * size cold memory, saved). */
#define ELIDE_BYTES (1 << 18)

static int
elidable(PyObject *x, PyObject *other, PyArrayObject *o, int divide)
{
    Array *a = (Array *)x;
    if (Py_TYPE(x) != Exact || Py_REFCNT(x) != 1 || a->base != Py_None ||
        a->data == NULL || !PyArray_CheckExact(a->data) || Py_REFCNT(a->data) != 1 ||
        !idle(a->var))
        return 0;
    PyArrayObject *d = (PyArrayObject *)a->data;
    int type = PyArray_TYPE(d);
    if (!PyTypeNum_ISNUMBER(type) ||
        (divide && !PyTypeNum_ISFLOAT(type) && !PyTypeNum_ISCOMPLEX(type)) ||
        !PyArray_CHKFLAGS(d, NPY_ARRAY_OWNDATA) || !PyArray_ISWRITEABLE(d) ||
        PyArray_CHKFLAGS(d, NPY_ARRAY_WRITEBACKIFCOPY) || PyArray_BASE(d) != NULL ||
        PyArray_NBYTES(d) < ELIDE_BYTES)
        return 0;
    if (o != NULL)
        return same_shape(d, o) && PyArray_CanCastArrayTo(o, PyArray_DESCR(d), NPY_SAFE_CASTING);
    Py_INCREF(other);
    PyArrayObject *s = (PyArrayObject *)PyArray_EnsureArray(other);  /* (steals) */
    if (s == NULL) {
        PyErr_Clear();
        return 0;
    }
    int ok = PyArray_NDIM(s) == 0 &&
             PyArray_CanCastArrayTo(s, PyArray_DESCR(d), NPY_SAFE_CASTING);
    Py_DECREF(s);
    return ok;
}

/* A binary operator: NumPy's, its in-place form (NULL: NumPy elides no
 * temporary for it), whether it commutes, whether it is true division
 * (elided for float and complex temporaries only), its ufunc's name. */
typedef struct {
    binaryfunc op, inplace;
    int commutes, divide;
    const char *name;
} Operator;

/* A binary op's operands as NumPy arrays (else NULL): the storage of ready
 * host dagrt arrays, and a NumPy array beside one (``host_array``). */
static void
operands(PyObject *v, PyObject *w, PyArrayObject **a, PyArrayObject **b)
{
    *a = host_storage(v);
    *b = host_storage(w);
    if (*a != NULL && *b == NULL && PyArray_CheckExact(w))
        *b = (PyArrayObject *)w;
    else if (*b != NULL && *a == NULL && PyArray_CheckExact(v))
        *a = (PyArrayObject *)v;
}

/* NumPy's operator on the storage if the op runs now (NULL, no error: not),
 * into a temporary operand where NumPy would write it (``elidable``). */
static PyObject *
fast_binary(PyObject *v, PyObject *w, const Operator *f)
{
    PyArrayObject *a, *b;
    operands(v, w, &a, &b);
    if (a == NULL && b == NULL)
        return NULL;
    PyArrayObject *d = a != NULL ? a : b;
    Py_ssize_t work = binary_work(a, b);
    if (work < 0 || ((a == NULL || b == NULL) && !is_scalar(a != NULL ? w : v)))
        return NULL;
    int admitted = PyArray_NDIM(a != NULL && b != NULL && PyArray_NDIM(b) > PyArray_NDIM(a) ?
                                b : d) > 0 ? admits_op(f->name, work) : 0;
    if (!admitted)
        return NULL;
    PyObject *x = a != NULL ? (PyObject *)a : v, *y = b != NULL ? (PyObject *)b : w;
    PyObject *into = NULL;
    if (f->inplace != NULL && work >= ELIDE_BYTES) {
        if (a != NULL && elidable(v, w, b, f->divide))
            into = v;
        else if (f->commutes && b != NULL && elidable(w, v, a, 0)) {
            into = w;
            x = (PyObject *)b;
            y = a != NULL ? (PyObject *)a : v;
        }
    }
    double t0 = start(admitted);
    PyObject *r;
    if (into != NULL) {
        if ((r = f->inplace(x, y)) == NULL)
            return NULL;
        Py_DECREF(r);  /* the storage itself */
        Py_INCREF(into);
        r = into;
    }
    else
        r = wrap(f->op(x, y));
    return shown(r, admitted, f->name, t0, work, v, w);
}

/* ``self <op>= other``: NumPy's in-place operator on the storage. */
static PyObject *
fast_inplace(PyObject *self, PyObject *other, binaryfunc op, const char *name)
{
    PyArrayObject *a = host_storage(self), *b;
    if (a == NULL || PyArray_NDIM(a) == 0 || !idle(((Array *)self)->var))
        return NULL;
    if ((b = host_array(other)) != NULL) {
        if (!same_shape(a, b))
            return NULL;
    }
    else if (!is_scalar(other))
        return NULL;
    Py_ssize_t work = PyArray_NBYTES(a);
    int admitted = admits_op(name, work);
    if (!admitted)
        return NULL;
    double t0 = start(admitted);
    PyObject *r = op((PyObject *)a, b != NULL ? (PyObject *)b : other);
    if (r == NULL)
        return NULL;
    Py_DECREF(r);  /* the storage itself */
    Py_INCREF(self);
    return shown(self, admitted, name, t0, work, self, other);
}

#define BINARY(fname, op, inplace, commutes, divide, forward, reflected, name)    \
    static PyObject *s_##forward, *s_##reflected;                                 \
    static const Operator o_##fname = {op, inplace, commutes, divide, name};     \
    static PyObject *fname(PyObject *v, PyObject *w)                             \
    {                                                                             \
        PyObject *r = fast_binary(v, w, &o_##fname);                              \
        if (r != NULL || PyErr_Occurred())                                        \
            return r;                                                             \
        return python_binary(v, w, s_##forward, s_##reflected);                   \
    }

#define INPLACE(fname, op, name, numpy_name)                                      \
    static PyObject *s_##name;                                                    \
    static PyObject *fname(PyObject *self, PyObject *other)                      \
    {                                                                             \
        PyObject *r = fast_inplace(self, other, op, numpy_name);                  \
        if (r != NULL || PyErr_Occurred())                                        \
            return r;                                                             \
        return configured ? call2(Methods, s_##name, self, other)                 \
                          : not_configured();                                     \
    }

BINARY(nb_add, PyNumber_Add, PyNumber_InPlaceAdd, 1, 0, __add__, __radd__, "add")
BINARY(nb_subtract, PyNumber_Subtract, PyNumber_InPlaceSubtract, 0, 0,
       __sub__, __rsub__, "subtract")
BINARY(nb_multiply, PyNumber_Multiply, PyNumber_InPlaceMultiply, 1, 0,
       __mul__, __rmul__, "multiply")
BINARY(nb_true_divide, PyNumber_TrueDivide, PyNumber_InPlaceTrueDivide, 0, 1, __truediv__,
       __rtruediv__, "divide")
BINARY(nb_floor_divide, PyNumber_FloorDivide, PyNumber_InPlaceFloorDivide, 0, 0,
       __floordiv__, __rfloordiv__, "floor_divide")
BINARY(nb_remainder, PyNumber_Remainder, NULL, 0, 0, __mod__, __rmod__, "remainder")
BINARY(nb_and, PyNumber_And, PyNumber_InPlaceAnd, 1, 0, __and__, __rand__, "bitwise_and")
BINARY(nb_or, PyNumber_Or, PyNumber_InPlaceOr, 1, 0, __or__, __ror__, "bitwise_or")
BINARY(nb_xor, PyNumber_Xor, PyNumber_InPlaceXor, 1, 0, __xor__, __rxor__, "bitwise_xor")
BINARY(nb_lshift, PyNumber_Lshift, PyNumber_InPlaceLshift, 0, 0,
       __lshift__, __rlshift__, "left_shift")
BINARY(nb_rshift, PyNumber_Rshift, PyNumber_InPlaceRshift, 0, 0,
       __rshift__, __rrshift__, "right_shift")
INPLACE(nb_inplace_add, PyNumber_InPlaceAdd, __iadd__, "add")
INPLACE(nb_inplace_subtract, PyNumber_InPlaceSubtract, __isub__, "subtract")
INPLACE(nb_inplace_multiply, PyNumber_InPlaceMultiply, __imul__, "multiply")
INPLACE(nb_inplace_true_divide, PyNumber_InPlaceTrueDivide, __itruediv__, "divide")
INPLACE(nb_inplace_floor_divide, PyNumber_InPlaceFloorDivide, __ifloordiv__, "floor_divide")
INPLACE(nb_inplace_remainder, PyNumber_InPlaceRemainder, __imod__, "remainder")
INPLACE(nb_inplace_and, PyNumber_InPlaceAnd, __iand__, "bitwise_and")
INPLACE(nb_inplace_or, PyNumber_InPlaceOr, __ior__, "bitwise_or")
INPLACE(nb_inplace_xor, PyNumber_InPlaceXor, __ixor__, "bitwise_xor")
INPLACE(nb_inplace_lshift, PyNumber_InPlaceLshift, __ilshift__, "left_shift")
INPLACE(nb_inplace_rshift, PyNumber_InPlaceRshift, __irshift__, "right_shift")

static PyObject *
power2(PyObject *a, PyObject *b)
{
    return PyNumber_Power(a, b, Py_None);
}

static PyObject *
inplace_power2(PyObject *a, PyObject *b)
{
    return PyNumber_InPlacePower(a, b, Py_None);
}

static PyObject *s___pow__, *s___rpow__, *s___ipow__;
static const Operator o_power = {power2, NULL, 0, 0, "power"};  /* (NumPy elides none) */

/* ``pow(a, b, mod)``: NumPy's operator returns NotImplemented (a TypeError). */
static PyObject *
nb_power(PyObject *v, PyObject *w, PyObject *mod)
{
    if (mod != Py_None)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *r = fast_binary(v, w, &o_power);
    if (r != NULL || PyErr_Occurred())
        return r;
    return python_binary(v, w, s___pow__, s___rpow__);
}

static PyObject *
nb_inplace_power(PyObject *self, PyObject *other, PyObject *mod)
{
    if (mod != Py_None)
        Py_RETURN_NOTIMPLEMENTED;
    PyObject *r = fast_inplace(self, other, inplace_power2, "power");
    if (r != NULL || PyErr_Occurred())
        return r;
    return configured ? call2(Methods, s___ipow__, self, other) : not_configured();
}

/* ``a @ b``: both ready host arrays of at least one dimension. */
static PyObject *s___matmul__, *s___rmatmul__;

static PyObject *
nb_matrix_multiply(PyObject *v, PyObject *w)
{
    PyArrayObject *a, *b;
    operands(v, w, &a, &b);
    if (a != NULL && b != NULL && PyArray_NDIM(a) > 0 && PyArray_NDIM(b) > 0) {
        /* multiply-adds times the itemsize: (..., M, K) @ (..., K, N) */
        Py_ssize_t n = PyArray_NDIM(b) > 1 ? PyArray_DIM(b, PyArray_NDIM(b) - 1) : 1;
        Py_ssize_t m = PyArray_NDIM(a) > 1 ? PyArray_DIM(a, PyArray_NDIM(a) - 2) : 1;
        Py_ssize_t work = PyArray_NBYTES(a) * n > PyArray_NBYTES(b) * m ? PyArray_NBYTES(a) * n
                                                                       : PyArray_NBYTES(b) * m;
        int admitted = admits_op("matmul", work);
        if (admitted) {
            double t0 = start(admitted);
            PyObject *r = shown(wrap(PyNumber_MatrixMultiply((PyObject *)a, (PyObject *)b)),
                                admitted, "matmul", t0, work, v, w);
            if (r != NULL || PyErr_Occurred())
                return r;
        }
    }
    return python_binary(v, w, s___matmul__, s___rmatmul__);
}

#define UNARY(fname, op, name, numpy_name)                                        \
    static PyObject *s_##name;                                                    \
    static PyObject *fname(PyObject *self)                                       \
    {                                                                             \
        PyArrayObject *a = host_storage(self);                                    \
        Py_ssize_t work = a != NULL ? PyArray_NBYTES(a) : 0;                      \
        int admitted = a != NULL && PyArray_NDIM(a) > 0 ? admits_op(numpy_name, work) : 0; \
        if (admitted) {                                                           \
            double t0 = start(admitted);                                          \
            PyObject *r = shown(wrap(op((PyObject *)a)), admitted, numpy_name, t0, work, \
                                self, NULL);                                      \
            if (r != NULL || PyErr_Occurred())                                    \
                return r;                                                         \
        }                                                                         \
        if (!configured)                                                          \
            return not_configured();                                              \
        PyObject *f = PyObject_GetAttr(Methods, s_##name);                        \
        if (f == NULL)                                                            \
            return NULL;                                                          \
        PyObject *r = PyObject_CallOneArg(f, self);                               \
        Py_DECREF(f);                                                             \
        return r;                                                                 \
    }

UNARY(nb_negative, PyNumber_Negative, __neg__, "negative")
UNARY(nb_positive, PyNumber_Positive, __pos__, "positive")
UNARY(nb_absolute, PyNumber_Absolute, __abs__, "absolute")
UNARY(nb_invert, PyNumber_Invert, __invert__, "invert")

static PyObject *s_compare[6];  /* __lt__ __le__ __eq__ __ne__ __gt__ __ge__ */

static PyObject *
richcompare(PyObject *v, PyObject *w, int op)
{
    static const char *names[6] = {"less", "less_equal", "equal", "not_equal", "greater",
                                   "greater_equal"};
    PyArrayObject *a, *b;
    operands(v, w, &a, &b);
    Py_ssize_t work = a == NULL ? 0 : binary_work(a, b);
    int admitted = a != NULL && PyArray_NDIM(a) > 0 && work >= 0 &&
                   (b != NULL || is_scalar(w) || PyUnicode_CheckExact(w) || PyBytes_CheckExact(w))
                   ? admits_op(names[op], work) : 0;  /* (``names == "Bob"``) */
    if (admitted) {
        double t0 = start(admitted);
        PyObject *r = shown(wrap(PyObject_RichCompare(
                                (PyObject *)a, b != NULL ? (PyObject *)b : w, op)),
                            admitted, names[op], t0, work, v, w);
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    if (!configured)
        return not_configured();
    return call2(Methods, s_compare[op], v, w);  /* (``v`` is ours: Python swaps) */
}

/* -- element access --------------------------------------------------------- */

/* ``key`` is a tuple of ``nd`` Python ints. */
static int
full_index(PyObject *key, int nd)
{
    if (!PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) != nd || nd == 0)
        return 0;
    for (int i = 0; i < nd; i++)
        if (!PyLong_CheckExact(PyTuple_GET_ITEM(key, i)))
            return 0;
    return 1;
}

/* An integer index array (a ready host dagrt array): its storage, else NULL. */
static PyArrayObject *
index_array(PyObject *key)
{
    PyArrayObject *k = host_storage(key);
    return k != NULL && PyTypeNum_ISINTEGER(PyArray_TYPE(k)) ? k : NULL;
}

/* A boolean mask of ``d``'s shape (a ready host dagrt array): its storage, else NULL. */
static PyArrayObject *
mask_array(PyObject *key, PyArrayObject *d)
{
    PyArrayObject *k = host_storage(key);
    return k != NULL && PyArray_TYPE(k) == NPY_BOOL && same_shape(k, d) ? k : NULL;
}

/* ``self[idx]``'s work (``indexing._gather``): index elements times bytes per row. */
static Py_ssize_t
gather_work(PyArrayObject *d, PyArrayObject *k)
{
    npy_intp rows = PyArray_NDIM(d) ? PyArray_DIM(d, 0) : 0;
    return PyArray_SIZE(k) * (rows ? PyArray_NBYTES(d) / rows : 8);
}

/* ``key`` is basic and selects a view, not an element, of an array of ``nd``
 * dimensions (``ndarray._getitem``'s test): a slice, ``None``, ``...``, an
 * int when ``nd > 1``, or a tuple of ints, slices, ``None`` and ``...`` with
 * fewer ints than dimensions or not only ints. */
static int
basic_key(PyObject *key, int nd)
{
    if (PySlice_Check(key) || key == Py_None || key == Py_Ellipsis)
        return 1;
    if (PyLong_CheckExact(key))
        return nd > 1;
    if (!PyTuple_CheckExact(key))
        return 0;
    Py_ssize_t n = PyTuple_GET_SIZE(key);
    int ints = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = PyTuple_GET_ITEM(key, i);
        if (PyLong_CheckExact(k))
            continue;
        if (!PySlice_Check(k) && k != Py_None && k != Py_Ellipsis)
            return 0;
        ints = 0;
    }
    return !ints || n < nd;
}

/* ``self[key] = value``, ``key`` basic, ``self`` an idle host array of numbers
 * or booleans, ``value`` a scalar or a ready array (storage ``v``): NumPy's
 * assignment on the storage, now, if the policy admits its work (the bytes
 * written). 0: done, -1: NumPy's error, 1: not run (the Python path). */
static int
set_basic(PyObject *self, PyObject *key, PyObject *value, PyArrayObject *v)
{
    Array *a = (Array *)self;
    PyArrayObject *d = (PyArrayObject *)a->data;
    Py_ssize_t work = PyArray_NBYTES(d);
    int admitted = admits(work);
    if (admitted != 1 || (v != NULL && (PyObject *)v != value && a->var != Fresh &&
                          ((Array *)value)->var == a->var)) {
        PyObject *view = PyObject_GetItem((PyObject *)d, key);
        if (view == NULL)
            return -1;  /* NumPy's IndexError */
        if (!PyArray_Check(view)) {
            Py_DECREF(view);
            return 1;
        }
        PyArrayObject *t = (PyArrayObject *)view;
        int nd = PyArray_NDIM(t);
        /* ``a[i:j] += b`` ends with ``a[i:j] = <that view>``: nothing to copy */
        int same = v != NULL && PyArray_BYTES(t) == PyArray_BYTES(v) && same_shape(t, v) &&
                   memcmp(PyArray_STRIDES(t), PyArray_STRIDES(v), nd * sizeof(npy_intp)) == 0 &&
                   PyArray_EquivTypes(PyArray_DESCR(t), PyArray_DESCR(v));
        work = PyArray_NBYTES(t);
        Py_DECREF(view);
        if (same)
            return 0;
        if (!(admitted = admits_op("setitem", work)))
            return 1;
    }
    double t0 = start(admitted);
    if (PyObject_SetItem((PyObject *)d, key, v != NULL ? (PyObject *)v : value) < 0)
        return -1;
    Py_INCREF(self);
    PyObject *r = shown(self, admitted, "setitem", t0, work, self, value);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* The elements of a list index (``plain_sequence``). */
static npy_intp
leaves(PyObject *x)
{
    if (PyRange_Check(x)) {
        Py_ssize_t n = PyObject_Size(x);
        if (n < 0)
            PyErr_Clear();  /* (a range too long for an index: NumPy's error, later) */
        return n < 0 ? 0 : n;
    }
    if (!PyList_CheckExact(x) && !PyTuple_CheckExact(x))
        return 1;
    npy_intp n = 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(x); i++)
        n += leaves(PySequence_Fast_GET_ITEM(x, i));
    return n;
}

/* The axes a list index spans: a nested list of booleans is a mask of as
 * many axes as it is deep, a list of integers one. */
static int
list_axes(PyObject *x)
{
    int depth = 0;
    while ((PyList_CheckExact(x) || PyTuple_CheckExact(x)) && PySequence_Fast_GET_SIZE(x)) {
        x = PySequence_Fast_GET_ITEM(x, 0);
        depth++;
    }
    return PyBool_Check(x) || PyArray_IsScalar(x, Bool) ? depth : 1;
}

/* The array whose memory ``x`` views (NumPy collapses a view's base). */
static PyObject *
memory_root(PyArrayObject *x)
{
    while (PyArray_BASE(x) != NULL && PyArray_Check(PyArray_BASE(x)))
        x = (PyArrayObject *)PyArray_BASE(x);
    return PyArray_BASE(x) != NULL ? PyArray_BASE(x) : (PyObject *)x;
}

/* ``key`` (a tuple or one index) made of ints, NumPy integers, slices,
 * None, ``...``, lists of numbers and integer or boolean index arrays
 * (NumPy's, or ready host dagrt arrays, given as their storage): the key for
 * NumPy's indexing of ``d``'s storage (a new reference), and in ``*work`` the
 * bytes it selects at most (those of the axes it does not index, times its
 * largest index); NULL without an error for any other key. */
static PyObject *
storage_key(PyArrayObject *d, PyObject *key, Py_ssize_t *work)
{
    int tuple = PyTuple_CheckExact(key), nd = PyArray_NDIM(d);
    Py_ssize_t n = tuple ? PyTuple_GET_SIZE(key) : 1;
    if (n > NPY_MAXDIMS)
        return NULL;
    PyObject *parts[NPY_MAXDIMS];
    int axes[NPY_MAXDIMS], indexes[NPY_MAXDIMS], used = 0, ellipsis = -1, swapped = 0;
    npy_intp largest = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *k = parts[i] = tuple ? PyTuple_GET_ITEM(key, i) : key;
        PyArrayObject *s = host_storage(k);
        axes[i] = indexes[i] = 1;
        npy_intp size = 1;
        if (s == NULL && PyArray_CheckExact(k))
            s = (PyArrayObject *)k;
        if (PyLong_CheckExact(k) || PyArray_IsScalar(k, Integer))
            ;
        else if (PySlice_Check(k))
            indexes[i] = 0;
        else if (k == Py_None || (k == Py_Ellipsis && ellipsis < 0)) {
            axes[i] = indexes[i] = 0;
            ellipsis = k == Py_Ellipsis ? (int)i : ellipsis;
        }
        else if (s != NULL && (PyArray_TYPE(s) == NPY_BOOL ||
                               PyTypeNum_ISINTEGER(PyArray_TYPE(s)))) {
            axes[i] = PyArray_TYPE(s) == NPY_BOOL ? PyArray_NDIM(s) : 1;
            size = PyArray_SIZE(s);
            swapped |= (parts[i] = (PyObject *)s) != k;
        }
        else if (PyList_CheckExact(k) && plain_sequence(k, 0)) {
            axes[i] = list_axes(k);
            size = leaves(k);
        }
        else
            return NULL;
        used += axes[i];
        largest = size > largest ? size : largest;
    }
    if (used > nd)
        return NULL;  /* too many indices: NumPy's error, from the Python path */
    npy_intp indexed = 1;  /* the elements of the axes the key indexes */
    for (Py_ssize_t i = 0, axis = 0; i < n; axis += axes[i], i++) {
        axis += i == ellipsis ? nd - used : 0;
        for (int j = 0; indexes[i] && j < axes[i]; j++)
            indexed *= PyArray_DIM(d, axis + j);
    }
    *work = indexed ? PyArray_NBYTES(d) / indexed * largest : 0;
    if (!swapped) {
        Py_INCREF(key);
        return key;
    }
    PyObject *r = PyTuple_New(n);
    for (Py_ssize_t i = 0; r != NULL && i < n; i++) {
        Py_INCREF(parts[i]);
        PyTuple_SET_ITEM(r, i, parts[i]);
    }
    return r;
}

/* ``self[key]`` now for the keys ``storage_key`` takes, when ``self`` is
 * readable and the policy admits the work: NumPy's element, a dagrt view
 * where NumPy's result views the storage, else a new array; NULL without an
 * error where not run. */
static PyObject *
fancy_get(PyObject *self, PyObject *key)
{
    Array *a = (Array *)self;
    PyArrayObject *d = (PyArrayObject *)a->data;
    Py_ssize_t work;
    PyObject *k = readable(a->var) ? storage_key(d, key, &work) : NULL;
    if (k == NULL || admits(work) != 1) {
        Py_XDECREF(k);
        return NULL;
    }
    PyObject *r = PyObject_GetItem((PyObject *)d, k);
    Py_DECREF(k);
    if (r == NULL || !PyArray_Check(r))
        return r;  /* NumPy's error or element */
    if (memory_root((PyArrayObject *)r) == memory_root(d))
        return view_of(self, r);  /* (``m[np.array(1), :]``: a 0-d index is an int) */
    return wrap(r);
}

/* ``self[key] = value`` now for the keys ``storage_key`` takes, ``self`` an
 * idle host array of numbers, ``value`` a number, a sequence of numbers, a
 * ready array or NumPy's, if the policy admits the work: 0 done, -1 NumPy's error,
 * 1 not run. */
static int
fancy_set(PyObject *self, PyObject *key, PyObject *value)
{
    PyArrayObject *d = (PyArrayObject *)((Array *)self)->data, *v = NULL;
    if (!PyTypeNum_ISNUMBER(PyArray_TYPE(d)) && PyArray_TYPE(d) != NPY_BOOL)
        return 1;
    if (!is_scalar(value) && (v = host_array(value)) == NULL && !plain_sequence(value, 0))
        return 1;
    Py_ssize_t work;
    PyObject *k = storage_key(d, key, &work);
    if (k == NULL || admits(work) != 1) {
        Py_XDECREF(k);
        return 1;
    }
    int r = PyObject_SetItem((PyObject *)d, k, v != NULL ? (PyObject *)v : value);
    Py_DECREF(k);
    return r;
}

/* ``d[key]`` is a view (a basic key, or a field's name) of numbers or booleans. */
static int
number_target(PyArrayObject *d, PyObject *key, int nd)
{
    int type = PyArray_TYPE(d);
    if (PyUnicode_CheckExact(key) && PyDataType_HASFIELDS(PyArray_DESCR(d))) {
        PyObject *field = PyDict_GetItemWithError(PyDataType_FIELDS(PyArray_DESCR(d)), key);
        if (field == NULL || !PyTuple_Check(field) || PyTuple_GET_SIZE(field) < 2) {
            PyErr_Clear();
            return 0;  /* no such field: NumPy's error, from the Python path */
        }
        PyArray_Descr *f = (PyArray_Descr *)PyTuple_GET_ITEM(field, 0);
        return !PyDataType_HASSUBARRAY(f) && (PyTypeNum_ISNUMBER(f->type_num) ||
                                              f->type_num == NPY_BOOL);
    }
    return (PyTypeNum_ISNUMBER(type) || type == NPY_BOOL) && basic_key(key, nd);
}

static PyObject *
subscript(PyObject *self, PyObject *key)
{
    Array *a = (Array *)self;
    if (configured && Py_TYPE(self) == Exact && a->data != NULL && PyArray_CheckExact(a->data)) {
        int nd = PyArray_NDIM((PyArrayObject *)a->data);
        int element = PyLong_CheckExact(key) ? nd == 1 : full_index(key, nd);
        if (element && readable(a->var))
            return PyObject_GetItem(a->data, key);  /* NumPy's scalar */
        PyArrayObject *k;
        if (nd > 0 && (k = index_array(key)) != NULL && readable(a->var) &&
            admits(gather_work((PyArrayObject *)a->data, k)) == 1) {  /* x[idx]: a gather */
            PyObject *r = wrap(PyObject_GetItem(a->data, (PyObject *)k));
            if (r != NULL || PyErr_Occurred())
                return r;
        }
        if (nd > 0 && (k = mask_array(key, (PyArrayObject *)a->data)) != NULL &&
            readable(a->var) && admits(PyArray_NBYTES((PyArrayObject *)a->data)) == 1) {
            PyObject *r = wrap(PyObject_GetItem(a->data, (PyObject *)k));  /* x[mask] */
            if (r != NULL || PyErr_Occurred())
                return r;
        }
        if (basic_key(key, nd) ||  /* or a field of a structured array: a view too */
            (PyUnicode_CheckExact(key) && PyDataType_HASFIELDS(PyArray_DESCR(
                (PyArrayObject *)a->data)))) {
            PyObject *view = PyObject_GetItem(a->data, key);
            return view == NULL ? NULL : view_of(self, view);
        }
        PyObject *r = fancy_get(self, key);  /* m[i, 1], x[[0, 1]], x[np.int64(1)] */
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    if (!configured)
        return not_configured();
    return call2((PyObject *)Py_TYPE(self), s_getitem, self, key);
}

static int
ass_subscript(PyObject *self, PyObject *key, PyObject *value)
{
    Array *a = (Array *)self;
    if (value == NULL) {
        PyErr_SetString(PyExc_ValueError, "cannot delete array elements");
        return -1;
    }
    if (configured && Py_TYPE(self) == Exact && a->data != NULL &&
        PyArray_CheckExact(a->data) && idle(a->var)) {
        PyArrayObject *d = (PyArrayObject *)a->data, *k, *v = NULL;
        int nd = PyArray_NDIM(d);
        if (is_scalar(value) && (PyLong_CheckExact(key) ? nd == 1 : full_index(key, nd)) &&
            unobserved())
            return PyObject_SetItem(a->data, key, value);
        /* x[idx] = v (``indexing._scatter``): a Python number, a sequence of
         * numbers, a ready array or NumPy's */
        if (nd > 0 && PyArray_TYPE(d) != NPY_OBJECT && (k = index_array(key)) != NULL &&
            (PyFloat_CheckExact(value) || PyLong_CheckExact(value) ||
             (v = host_array(value)) != NULL || plain_sequence(value, 0)) &&
            admits(PyArray_NBYTES(k)) == 1)
            return PyObject_SetItem(a->data, (PyObject *)k, v != NULL ? (PyObject *)v : value);
        /* x[mask] = v: the same values, a mask of x's shape */
        if (nd > 0 && PyArray_TYPE(d) != NPY_OBJECT && (k = mask_array(key, d)) != NULL &&
            (PyFloat_CheckExact(value) || PyLong_CheckExact(value) ||
             (v = host_array(value)) != NULL || plain_sequence(value, 0)) &&
            admits(PyArray_NBYTES(d)) == 1)
            return PyObject_SetItem(a->data, (PyObject *)k, v != NULL ? (PyObject *)v : value);
        /* x[basic] = v, x["field"] = v: a number, a sequence of numbers, a
         * ready array's values or a NumPy array's */
        v = NULL;
        if (number_target(d, key, nd) && (is_scalar(value) ||
                                          (v = host_array(value)) != NULL ||
                                          plain_sequence(value, 0))) {
            int r = set_basic(self, key, value, v);
            if (r <= 0)
                return r;
        }
        int r = fancy_set(self, key, value);  /* m[i, 1] = 0, x[[0, 1]] = [5, 6] */
        if (r <= 0)
            return r;
    }
    if (!configured) {
        not_configured();
        return -1;
    }
    PyObject *f = PyObject_GetAttr((PyObject *)Py_TYPE(self), s_setitem);
    if (f == NULL)
        return -1;
    PyObject *r = PyObject_CallFunctionObjArgs(f, self, key, value, NULL);
    Py_DECREF(f);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static Py_ssize_t
length(PyObject *self)
{
    Array *a = (Array *)self;
    if (a->data == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_data");
        return -1;
    }
    return PyObject_Size(a->data);  /* a 0-d array: NumPy's TypeError */
}

/* -- iteration -------------------------------------------------------------- */

/* ``for v in x``: NumPy's iterator over the storage. Elements of a 1-d array
 * are read as the loop goes, each once nothing writes it (``_element`` waits);
 * the rows of an n-d array are views sharing its state (``var_of``), made by
 * ``view_of`` while a kernel writes it. ``ndarray._iter`` for the rest. */
typedef struct {
    PyObject_HEAD
    PyObject *array;
    PyObject *it;    /* NumPy's iterator */
    PyObject *var;   /* rows: the state the views share (``var_of``); elements: NULL */
    Py_ssize_t i;
} Iter;

static PyObject *VarOf, *s_iter, *s_element;

static void
Iter_dealloc(Iter *self)
{
    Py_XDECREF(self->array);
    Py_XDECREF(self->it);
    Py_XDECREF(self->var);
    PyObject_Free(self);
}

static PyObject *
Iter_next(Iter *self)
{
    PyObject *item = PyIter_Next(self->it);
    if (item == NULL)
        return NULL;
    Py_ssize_t i = self->i++;
    if (self->var == NULL) {
        if (readable(((Array *)self->array)->var))
            return item;
        Py_DECREF(item);
        PyObject *index = PyLong_FromSsize_t(i);
        if (index == NULL)
            return NULL;
        PyObject *r = call2((PyObject *)Exact, s_element, self->array, index);
        Py_DECREF(index);
        return r;
    }
    return view_of(self->array, item);  /* (the array has a state of its own: var_of) */
}

static PyTypeObject IterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dagrt.array._native.Iter",
    .tp_doc = PyDoc_STR("An iterator over a dagrt array."),
    .tp_basicsize = sizeof(Iter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = (destructor)Iter_dealloc,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)Iter_next,
};

static PyObject *
Array_iter(PyObject *self)
{
    Array *a = (Array *)self;
    if (!configured)
        return not_configured();
    if (Py_TYPE(self) != Exact || a->data == NULL || !PyArray_CheckExact(a->data) ||
        PyArray_NDIM((PyArrayObject *)a->data) == 0 || a->var == NULL ||
        (a->var != Fresh && (!PyObject_TypeCheck(a->var, VarType) ||
                             SLOT(a->var, off_device) != Py_None)))
        return PyObject_CallMethodOneArg((PyObject *)Py_TYPE(self), s_iter, self);
    Iter *iter = PyObject_New(Iter, &IterType);
    if (iter == NULL)
        return NULL;
    iter->array = self;
    Py_INCREF(self);
    iter->var = NULL;
    iter->i = 0;
    iter->it = PyObject_GetIter(a->data);
    if (iter->it != NULL && PyArray_NDIM((PyArrayObject *)a->data) > 1) {
        iter->var = PyObject_CallOneArg(VarOf, self);
    }
    if (iter->it == NULL || (PyArray_NDIM((PyArrayObject *)a->data) > 1 && iter->var == NULL)) {
        Py_DECREF(iter);
        return NULL;
    }
    return (PyObject *)iter;
}

/* -- the type ------------------------------------------------------------- */

static PyObject *
Array_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return type->tp_alloc(type, 0);  /* the fields are set by __init__ or the caller */
}

static int
Array_traverse(Array *self, visitproc visit, void *arg)
{
    Py_VISIT(self->data);
    Py_VISIT(self->var);
    Py_VISIT(self->base);
    return 0;
}

static int
Array_clear(Array *self)
{
    Py_CLEAR(self->data);
    Py_CLEAR(self->var);
    Py_CLEAR(self->base);
    return 0;
}

static void
Array_dealloc(Array *self)
{
    PyObject_GC_UnTrack(self);
    if (self->weakrefs != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    Array_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef Array_members[] = {
    {"_data", T_OBJECT_EX, offsetof(Array, data), 0, "The NumPy storage."},
    {"_var", T_OBJECT_EX, offsetof(Array, var), 0, "The root buffer's scheduling state."},
    {"_base", T_OBJECT_EX, offsetof(Array, base), 0, "The root array of a view, or None."},
    {NULL},
};

/* The storage's matrix transpose (``x.mT``): NumPy's, or a device array's last
 * two axes swapped (NumPy's error for fewer than two). */
static PyObject *
matrix_transpose(PyObject *data)
{
    if (PyArray_CheckExact(data))
        return PyObject_GetAttrString(data, "mT");
    PyObject *ndim = PyObject_GetAttrString(data, "ndim");
    long nd = ndim != NULL ? PyLong_AsLong(ndim) : -1;
    Py_XDECREF(ndim);
    if (nd == -1 && PyErr_Occurred())
        return NULL;
    if (nd < 2) {
        PyErr_SetString(PyExc_ValueError, "matrix transpose with ndim < 2 is undefined");
        return NULL;
    }
    return PyObject_CallMethod(data, "swapaxes", "ii", -1, -2);
}

/* ``x.T`` (``x.mT`` with a closure): a view of the storage's transpose
 * (``view_of``), on any device. */
static PyObject *
Array_T(PyObject *self, void *closure)
{
    Array *a = (Array *)self;
    if (a->data == NULL) {
        PyErr_SetString(PyExc_AttributeError, "_data");
        return NULL;
    }
    if (!configured)
        return not_configured();
    PyObject *t = closure != NULL ? matrix_transpose(a->data) : PyArray_CheckExact(a->data) ?
        PyArray_Transpose((PyArrayObject *)a->data, NULL) : PyObject_GetAttrString(a->data, "T");
    if (t == NULL)
        return NULL;
    if (Py_TYPE(self) == Exact && PyArray_CheckExact(t))
        return view_of(self, t);
    PyObject *r = PyObject_CallFunctionObjArgs(ViewOf, self, t, NULL);
    Py_DECREF(t);
    return r;
}

static PyGetSetDef Array_getset[] = {
    {"T", Array_T, NULL, "The transposed array (a view).", NULL},
    {"mT", Array_T, NULL, "The matrix transpose: the last two axes swapped (a view).", "mT"},
    {NULL},
};

static PyNumberMethods Array_as_number = {
    .nb_add = nb_add,
    .nb_subtract = nb_subtract,
    .nb_multiply = nb_multiply,
    .nb_remainder = nb_remainder,
    .nb_power = nb_power,
    .nb_negative = nb_negative,
    .nb_positive = nb_positive,
    .nb_absolute = nb_absolute,
    .nb_invert = nb_invert,
    .nb_lshift = nb_lshift,
    .nb_rshift = nb_rshift,
    .nb_and = nb_and,
    .nb_xor = nb_xor,
    .nb_or = nb_or,
    .nb_inplace_add = nb_inplace_add,
    .nb_inplace_subtract = nb_inplace_subtract,
    .nb_inplace_multiply = nb_inplace_multiply,
    .nb_inplace_remainder = nb_inplace_remainder,
    .nb_inplace_power = nb_inplace_power,
    .nb_inplace_lshift = nb_inplace_lshift,
    .nb_inplace_rshift = nb_inplace_rshift,
    .nb_inplace_and = nb_inplace_and,
    .nb_inplace_xor = nb_inplace_xor,
    .nb_inplace_or = nb_inplace_or,
    .nb_floor_divide = nb_floor_divide,
    .nb_true_divide = nb_true_divide,
    .nb_inplace_floor_divide = nb_inplace_floor_divide,
    .nb_inplace_true_divide = nb_inplace_true_divide,
    .nb_matrix_multiply = nb_matrix_multiply,
};

/* The sequence slots too, as NumPy's ndarray has them (``PySequence_Check``:
 * NumPy reads a dagrt integer array as a sequence of ints, ``transpose(p)``). */
static PyObject *
item(PyObject *self, Py_ssize_t i)
{
    PyObject *key = PyLong_FromSsize_t(i);
    PyObject *r = key != NULL ? subscript(self, key) : NULL;
    Py_XDECREF(key);
    return r;
}

static int
ass_item(PyObject *self, Py_ssize_t i, PyObject *value)
{
    PyObject *key = PyLong_FromSsize_t(i);
    int r = key != NULL ? ass_subscript(self, key, value) : -1;
    Py_XDECREF(key);
    return r;
}

static PySequenceMethods Array_as_sequence = {
    .sq_length = length,
    .sq_item = item,
    .sq_ass_item = ass_item,
};

static PyMappingMethods Array_as_mapping = {
    .mp_length = length,
    .mp_subscript = subscript,
    .mp_ass_subscript = ass_subscript,
};

/* The buffer protocol (``memoryview(x)``, ``bytes(x)``, ``hashlib``...; and
 * NumPy's first way to read an array-like): the storage's own buffer, once
 * no pending op uses it (``ndarray._exported``: waits, or a GPU array's host
 * copy). A void or structured array asks ``_exported``, which exports none
 * where NumPy cannot read the format back as its dtype (``'3x'``: another
 * dtype; titles are lost; explicit offsets raise RuntimeError in NumPy):
 * NumPy then reads the array interface. (``numpy.asarray(x)`` reads the
 * buffer first: a contiguous array's length-1 axes get the strides NumPy's
 * buffer makes up, as NumPy's own ``memoryview(x)`` shows them.) */
static PyObject *s_exported;

static int
Array_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    Array *a = (Array *)self;
    if (!configured) {
        not_configured();
        return -1;
    }
    PyObject *data = a->data != NULL && PyArray_CheckExact(a->data) && idle(a->var) &&
                     PyArray_TYPE((PyArrayObject *)a->data) != NPY_VOID
                         ? Py_NewRef(a->data)
                         : PyObject_CallMethodNoArgs(self, s_exported);
    if (data == NULL)
        return -1;
    int r = PyObject_GetBuffer(data, view, flags);
    Py_DECREF(data);
    return r;
}

static PyBufferProcs Array_as_buffer = {
    .bf_getbuffer = Array_getbuffer,
};

static PyTypeObject ArrayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dagrt.array._native.Array",
    .tp_doc = PyDoc_STR("The fields and hottest slots of dagrt.ndarray (see the module)."),
    .tp_basicsize = sizeof(Array),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = Array_new,
    .tp_dealloc = (destructor)Array_dealloc,
    .tp_traverse = (traverseproc)Array_traverse,
    .tp_clear = (inquiry)Array_clear,
    .tp_weaklistoffset = offsetof(Array, weakrefs),
    .tp_members = Array_members,
    .tp_getset = Array_getset,
    .tp_as_number = &Array_as_number,
    .tp_as_sequence = &Array_as_sequence,
    .tp_as_mapping = &Array_as_mapping,
    .tp_as_buffer = &Array_as_buffer,
    .tp_richcompare = richcompare,
    .tp_iter = Array_iter,
    .tp_hash = PyObject_HashNotImplemented,
};

/* -- record's run-now case ---------------------------------------------------- */

/* ``x`` with the dagrt arrays in it (and in lists and tuples, ``depth`` levels)
 * replaced by their storage (new reference; ``host_values`` of
 * ``array.record``); NULL without an error if one is not a ready host array
 * (or, with ``IDLE``, used by a pending op at all)
 * or, with ``STRICT``, if anything else is not plain (a NumPy array or scalar,
 * a Python number, string, ``None``, a type or a dtype: not an object whose
 * ``__array__`` NumPy would call, which may give a dagrt array).
 * Adds the bytes of the arrays found to ``nbytes``. */
#define TUPLES 1
#define STRICT 2
#define IDLE 64  /* run_now's flags (4-32: a NOW function's conditions) */

static int
plain_value(PyObject *x)
{
    return PyArray_CheckExact(x) || PyLong_Check(x) || PyFloat_Check(x) || PyComplex_Check(x) ||
           PyUnicode_CheckExact(x) || x == Py_None || PyType_Check(x) ||
           PyArray_DescrCheck(x) || PyArray_IsScalar(x, Generic);
}

static PyObject *
storage_of(PyObject *x, int depth, Py_ssize_t *nbytes, long flags)
{
    if (Py_TYPE(x) == Exact) {
        PyArrayObject *d = host_storage(x);
        if (d == NULL || ((flags & IDLE) && !idle(((Array *)x)->var)))
            return NULL;
        *nbytes += PyArray_NBYTES(d);
        return Py_NewRef((PyObject *)d);
    }
    int list = PyList_CheckExact(x);
    if (!list && !PyTuple_CheckExact(x)) {
        if ((flags & STRICT) && !plain_value(x))
            return NULL;
        if (PyArray_Check(x))
            *nbytes += PyArray_NBYTES((PyArrayObject *)x);
        return Py_NewRef(x);
    }
    if (depth == 0)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(x);
    PyObject *out = list ? PyList_New(n) : PyTuple_New(n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = storage_of(PySequence_Fast_GET_ITEM(x, i), depth - 1, nbytes, flags);
        if (v == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        if (list)
            PyList_SET_ITEM(out, i, v);
        else
            PyTuple_SET_ITEM(out, i, v);
    }
    return out;
}

/* ``r`` is the storage of a dagrt array in ``x`` (nested ``depth`` levels in
 * lists and tuples): NumPy returned an input as it is. */
static int
among(PyObject *r, PyObject *x, int depth)
{
    if (Py_TYPE(x) == Exact)
        return ((Array *)x)->data == r;
    if (x == r)
        return 1;
    if (depth == 0 || (!PyList_CheckExact(x) && !PyTuple_CheckExact(x)))
        return 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(x); i++)
        if (among(r, PySequence_Fast_GET_ITEM(x, i), depth - 1))
            return 1;
    return 0;
}

/* run_now(call, args, kwargs, work, also): ``record``'s case of an op without
 * given outputs whose inputs are ready host arrays, whose other written
 * buffers (``also``: a random generator's state) are idle and whose work is
 * at most ``POLICY.small`` (no profile watching): NumPy's call on the
 * storage, now. A ``work`` of -1 stands for the bytes of the arrays among
 * the arguments. With the op's ``name`` (the name its ``record`` gives the
 * cost model, with the same ``work``), an op over ``small`` that the cost
 * model predicts cheap runs too (timed, learnt: ``cheap``).
 * ``flags``: 1 (``tuples``), 2 (``strict``: plain arguments only, see
 * ``storage_of``), 64 (``idle``: the arrays used by no pending op, as the
 * call may write them: ``np.put``, ``x.sort()``). Returns ``[array]`` (a new
 * NumPy array, or a view of one nothing else holds, wrapped, or
 * NumPy's scalar; with ``tuples``, NumPy's tuple of new arrays too, each
 * wrapped, a view of its temporary copied as ``wrap_result`` copies it),
 * ``(result,)``
 * (anything else NumPy returned: ``record`` wraps it), or None: not run. */
static PyObject *
run_now(PyObject *module, PyObject *const *argv, Py_ssize_t nargs)
{
    if (nargs < 5 || nargs > 7 || !PyDict_Check(argv[2]) || !PySequence_Check(argv[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "run_now(call, args, kwargs, work, also[, name[, flags]])");
        return NULL;
    }
    Py_ssize_t work = PyLong_AsSsize_t(argv[3]);
    if (work == -1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return NULL;
        PyErr_Clear();  /* (too large to run now: the Python path, NumPy's error) */
        Py_RETURN_NONE;
    }
    int admitted = configured && work >= 0 ? admits(work) : 0;
    if (!configured || (work >= 0 && !admitted && !(nargs >= 6 && PyUnicode_Check(argv[5]))))
        Py_RETURN_NONE;  /* (over ``small`` without a name: not run now) */
    PyObject *also = PySequence_Fast(argv[4], "also");
    if (also == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(also); i++) {
        PyObject *a = PySequence_Fast_GET_ITEM(also, i);
        if (Py_TYPE(a) != Exact || !idle(((Array *)a)->var)) {
            Py_DECREF(also);
            Py_RETURN_NONE;
        }
    }
    Py_DECREF(also);
    Py_ssize_t nbytes = 0;
    long flags = nargs == 7 ? PyLong_AsLong(argv[6]) : 0;  /* TUPLES | STRICT | IDLE */
    if (flags == -1 && PyErr_Occurred())
        return NULL;
    PyObject *args = storage_of(argv[1], 8, &nbytes, flags), *kwargs = NULL, *r = NULL;
    if (args != NULL && PyList_CheckExact(args))
        Py_SETREF(args, PyList_AsTuple(args));
    if (args == NULL || !PyTuple_CheckExact(args)) {
        Py_XDECREF(args);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    if (PyDict_GET_SIZE(argv[2])) {
        kwargs = PyDict_New();
        PyObject *key, *value;
        Py_ssize_t pos = 0;
        while (kwargs != NULL && PyDict_Next(argv[2], &pos, &key, &value)) {
            PyObject *v = storage_of(value, 8, &nbytes, flags);
            if (v == NULL || PyDict_SetItem(kwargs, key, v) < 0)
                Py_CLEAR(kwargs);
            Py_XDECREF(v);
        }
        if (kwargs == NULL) {
            Py_DECREF(args);
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
    }
    if (work < 0)  /* (-1: the bytes of the arrays in the arguments) */
        admitted = admits(work = nbytes);
    if (!admitted && nargs >= 6 && PyUnicode_Check(argv[5]))
        admitted = cheap(argv[5], work);  /* (the cost model's, asked once the op can run) */
    if (admitted != 1 && admitted != LEARNED) {
        Py_DECREF(args);
        Py_XDECREF(kwargs);
        Py_RETURN_NONE;
    }
    double c0 = admitted == LEARNED ? cpu_now() : 0.0;
    r = PyObject_Call(argv[0], args, kwargs);
    for (Py_ssize_t i = 0; r != NULL && (PyList_CheckExact(r) || PyTuple_CheckExact(r)) &&
                           i < PyTuple_GET_SIZE(args); i++)
        if (PyTuple_GET_ITEM(args, i) == r) {  /* an argument as it is (``diff(x, n=0) is x``): */
            Py_SETREF(r, Py_NewRef(PySequence_Fast_GET_ITEM(argv[1], i)));  /* the caller's */
            break;
        }
    Py_DECREF(args);
    Py_XDECREF(kwargs);
    if (admitted == LEARNED)
        r = learnt(r, argv[5], work, c0);
    if (r == NULL)
        return NULL;
    if ((PyArray_CheckExact(r) && (PyArray_BASE((PyArrayObject *)r) == NULL ||
                                   private_view((PyArrayObject *)r)) &&
         !among(r, argv[1], 2)) ||  /* (an input's storage itself: the caller's to wrap) */
        PyArray_IsScalar(r, Generic)) {  /* (NumPy's scalar stays as it is) */
        PyObject *a = wrap(r), *list;
        if (a == NULL || (list = PyList_New(1)) == NULL) {
            Py_XDECREF(a);
            return NULL;
        }
        PyList_SET_ITEM(list, 0, a);
        return list;
    }
    if ((flags & 1) && PyTuple_CheckExact(r) &&
        PyTuple_GET_SIZE(r) > 0) {  /* ``tuples``: NumPy's tuple of new arrays (nonzero) */
        Py_ssize_t n = PyTuple_GET_SIZE(r), i;
        PyObject *first = PyTuple_GET_ITEM(r, 0);
        PyObject *shared = n > 1 && PyArray_CheckExact(first) ?
            PyArray_BASE((PyArrayObject *)first) : NULL;
        for (i = 1; shared != NULL && i < n; i++) {
            PyObject *x = PyTuple_GET_ITEM(r, i);
            if (!PyArray_CheckExact(x) || PyArray_BASE((PyArrayObject *)x) != shared)
                shared = NULL;
        }  /* views of one array (a 2-d ``nonzero``'s rows): ``wrap_result``'s views */
        for (i = 0; shared == NULL && i < n; i++) {  /* new arrays, or views of temporaries */
            PyObject *x = PyTuple_GET_ITEM(r, i);
            if (!PyArray_CheckExact(x))
                break;
            while (x != NULL && PyArray_Check(x) && !among(x, argv[1], 2))
                x = PyArray_BASE((PyArrayObject *)x);
            if (x != NULL)  /* (an input's storage, or memory NumPy does not own) */
                break;
        }
        PyObject *wrapped = i == n ? PyTuple_New(n) : NULL, *list = NULL;
        for (i = 0; wrapped != NULL && i < n; i++) {
            PyArrayObject *x = (PyArrayObject *)PyTuple_GET_ITEM(r, i);
            PyObject *a = wrap(PyArray_BASE(x) == NULL ? Py_NewRef((PyObject *)x) :
                               PyArray_NewCopy(x, NPY_KEEPORDER));  /* (as wrap_result) */
            if (a == NULL)
                Py_CLEAR(wrapped);
            else
                PyTuple_SET_ITEM(wrapped, i, a);
        }
        if (wrapped != NULL && (list = PyList_New(1)) != NULL) {
            PyList_SET_ITEM(list, 0, wrapped);
            Py_DECREF(r);
            return list;
        }
        Py_XDECREF(wrapped);
        if (PyErr_Occurred()) {
            Py_DECREF(r);
            return NULL;
        }
    }
    PyObject *raw = PyTuple_Pack(1, r);
    Py_DECREF(r);
    return raw;
}

/* -- ufuncs ------------------------------------------------------------------ */

/* The base class of ``ops.elementwise.Ufunc`` (``dagrt.sin``, ``dagrt.add``...)
 * and of ``random.Draw`` (``dagrt.random.normal``, ``rng.uniform``...): the
 * run-now case of a call. A ufunc's call with positional operands only (ready
 * host arrays or NumPy's, and scalars, as for the operators) runs NumPy's
 * ufunc on the storage now (on numbers only, on the CPU: NumPy's scalar); a
 * draw's call with plain numbers runs NumPy's generator now (``draw_now``);
 * any other call is ``self._call``. ``_fast``
 * (set by the Python class) says which of these the object is. */
typedef struct {
    PyObject_HEAD
    PyObject *func;
    Py_ssize_t nin;    /* (NOW: the most positional arguments, -1: any) */
    int fast;          /* UFUNC, DRAW, NOW, or 0: always ``_call`` */
    PyObject *state;   /* a draw's generator state (a dagrt array) */
    PyObject *device;  /* the cell holding the ``device`` flag (registry.DEFAULT_DEVICE):
                        * a draw's, a ufunc's, and a NOW function's that runs on the
                        * CPU only */
    PyObject *now;     /* NOW: the function run now (NumPy's, or ndarray's method) */
    PyObject *refuse;  /* NOW: keywords that take ``_call`` (a tuple of str) */
    PyObject *wrap;    /* NOW: ``wrap_result`` for what run_now does not wrap */
    int flags;         /* NOW: run_now's flags (TUPLES 1, STRICT 2), FIRST_ARRAY, NO_KWARGS */
    PyObject *call;    /* ``_call`` set on the object (NULL: the class's method) */
} Recorded;

#define UFUNC 1
#define DRAW 2
#define NOW 3
#define FIRST_ARRAY 4  /* the first argument a dagrt array (or NumPy's: its method too) */
#define NO_KWARGS 8    /* no keyword at all */
#define FIRST_LIST 16  /* the first argument a list or tuple of at most 4096 items */
#define AXIS_ONLY 32   /* no keyword but ``axis`` */
#define EAGER 128      /* an eager function: NumPy's call now whatever its size (work 0) */
#define DISPATCH 256   /* NumPy's function dispatches (NEP 18): so does this one (``ducks``) */
#define DISPATCH_ARRAYS 512  /* ... on its arrays, not only ``like=`` (a subclass's too) */

static PyObject *s_call, *s_size, *s_cpu, *s_out, *s_out_names, *s_axis;

/* The bytes a draw of ``size`` (None, an int or a tuple of ints) makes, or -1:
 * not a plain size (the Python path checks it). */
static Py_ssize_t
draw_work(PyObject *size)
{
    if (size == NULL || size == Py_None)
        return 8;
    PyObject *const *dims = &size;
    Py_ssize_t nd = 1;
    if (PyTuple_CheckExact(size)) {
        dims = &PyTuple_GET_ITEM(size, 0);
        nd = PyTuple_GET_SIZE(size);
    }
    Py_ssize_t work = 8;
    for (Py_ssize_t i = 0; i < nd; i++) {
        if (!PyLong_CheckExact(dims[i]))
            return -1;
        Py_ssize_t d = PyLong_AsSsize_t(dims[i]);
        if (d < 0 || d > ((Py_ssize_t)1 << 40) || (d && work > PY_SSIZE_T_MAX / 2 / d)) {
            PyErr_Clear();
            return -1;
        }
        work *= d;
    }
    return work;
}

/* ``device`` is registry's DEFAULT_DEVICE cell and holds "cpu". */
static int
cpu_default(PyObject *device)
{
    PyObject *flag;
    return PyList_CheckExact(device) && PyList_GET_SIZE(device) == 1 &&
           PyUnicode_Check(flag = PyList_GET_ITEM(device, 0)) &&
           PyUnicode_Compare(flag, s_cpu) == 0;
}

/* A draw's run-now case: ``impl.<method>(*params, size=size)`` with plain
 * Python numbers as parameters and a plain size (``nin == -1``: the
 * arguments are the dimensions, as ``rand(2, 3)``), the default device the
 * CPU, the generator's state idle and the work admitted: NumPy's own call, in
 * order with the generator's other draws. NULL without an error: not run. */
static PyObject *
draw_now(Recorded *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args), nin = self->nin;
    PyObject *size = NULL;
    if (self->state == NULL || Py_TYPE(self->state) != Exact ||
        !idle(((Array *)self->state)->var) || self->device == NULL || !cpu_default(self->device))
        return NULL;
    if (nin < 0) {  /* rand(d0, d1, ...) */
        if (kwargs != NULL && PyDict_GET_SIZE(kwargs))
            return NULL;
        if (n)
            size = args;
    }
    else {
        if (n > nin + 1)
            return NULL;
        for (Py_ssize_t i = 0; i < n && i < nin; i++) {
            PyObject *p = PyTuple_GET_ITEM(args, i);
            if (!PyFloat_CheckExact(p) && !PyLong_CheckExact(p))
                return NULL;
        }
        if (n == nin + 1)
            size = PyTuple_GET_ITEM(args, nin);
        if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
            if (size != NULL || PyDict_GET_SIZE(kwargs) != 1 ||
                (size = PyDict_GetItemWithError(kwargs, s_size)) == NULL)
                return NULL;
        }
    }
    Py_ssize_t work = draw_work(size);
    if (work < 0 || admits(work) != 1)
        return NULL;
    PyObject *r = PyObject_Call(self->func, args, kwargs);
    if (r == NULL || !PyArray_Check(r))
        return r;  /* (NumPy's Python scalar for ``size=None``, as the Python path) */
    if (!PyArray_CheckExact(r) || PyArray_BASE((PyArrayObject *)r) != NULL)
        Py_SETREF(r, PyArray_NewCopy((PyArrayObject *)r, NPY_KEEPORDER));
    return wrap(r);
}

static PyObject *minus_one, *zero, *no_kwargs, *no_also;

/* A NOW function's run-now case (``ops.namespace.NowFunction``: a creation,
 * contraction, sort, reduction or eager function): ``run_now(now, args,
 * kwargs, -1, (), None, flags)`` when the arguments meet the function's
 * conditions, its result unwrapped as the Python function would. NULL
 * without an error: not run (``_call``). */
static PyObject *
call_now(Recorded *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    PyObject *arg0 = n ? PyTuple_GET_ITEM(args, 0) : NULL;
    if ((self->nin >= 0 && n > self->nin) || ((self->flags & FIRST_ARRAY) &&
        (arg0 == NULL || (Py_TYPE(arg0) != Exact && !PyArray_CheckExact(arg0)))))
        return NULL;
    if (self->flags & FIRST_LIST) {
        PyObject *first = n ? PyTuple_GET_ITEM(args, 0) : NULL;
        if (first == NULL || !(PyList_CheckExact(first) || PyTuple_CheckExact(first)) ||
            PySequence_Fast_GET_SIZE(first) > 4096)
            return NULL;
    }
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        if ((self->flags & NO_KWARGS) || ((self->flags & AXIS_ONLY) &&
            (PyDict_GET_SIZE(kwargs) != 1 || PyDict_GetItemWithError(kwargs, s_axis) == NULL)))
            return NULL;
        if (self->refuse != NULL && PyTuple_CheckExact(self->refuse))
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(self->refuse); i++) {
                PyObject *v = PyDict_GetItemWithError(kwargs, PyTuple_GET_ITEM(self->refuse, i));
                if (v != NULL || PyErr_Occurred())
                    return NULL;
            }
    }
    if (self->device != NULL && !cpu_default(self->device))
        return NULL;
    PyObject *flags = PyLong_FromLong(self->flags & (TUPLES | STRICT | IDLE));
    if (flags == NULL)
        return NULL;
    PyObject *argv[7] = {self->now, args, kwargs != NULL ? kwargs : no_kwargs,
                         (self->flags & EAGER) ? zero : minus_one,
                         no_also, Py_None, flags};
    PyObject *done = run_now(NULL, argv, 7);
    Py_DECREF(flags);
    if (done == NULL || done == Py_None) {
        Py_XDECREF(done);
        return NULL;
    }
    PyObject *first = PySequence_Fast_GET_ITEM(done, 0), *r = NULL;
    for (Py_ssize_t i = 0; i < n && !PyList_CheckExact(done) &&
                           (PyList_CheckExact(first) || PyTuple_CheckExact(first)); i++)
        if (PyTuple_GET_ITEM(args, i) == first)
            r = Py_NewRef(first);  /* a list argument NumPy returned as it is */
    if (r != NULL)
        ;
    else if (PyList_CheckExact(done))
        r = Py_NewRef(first);
    else {  /* NumPy's result of these inputs: a view of one is a view (``einsum('ii->i', a)``) */
        PyObject *inputs = PyTuple_Pack(2, args, kwargs != NULL ? kwargs : no_kwargs);
        r = inputs != NULL ? PyObject_CallFunctionObjArgs(self->wrap, first, inputs, NULL) : NULL;
        Py_XDECREF(inputs);
    }
    Py_DECREF(done);
    return r;
}

/* -- NEP 18 ------------------------------------------------------------------- */

static PyObject *s___array_function__, *numpy_protocol;

/* ``x``'s type has its own ``__array_function__`` (a duck array: dask, CuPy,
 * sparse...), not NumPy's ndarray's (nor dagrt's, nor none). */
static PyObject *s_numpy_ma, *s_MaskedArray;

/* ``t`` is NumPy's MaskedArray or a subclass (none exists unless numpy.ma was
 * imported: it is not imported here). */
static int
masked(PyTypeObject *t)
{
    PyObject *ma = PyImport_GetModule(s_numpy_ma);
    if (ma == NULL) {
        PyErr_Clear();
        return 0;
    }
    PyObject *type = PyObject_GetAttr(ma, s_MaskedArray);
    Py_DECREF(ma);
    int r = type != NULL && PyType_Check(type) && PyType_IsSubtype(t, (PyTypeObject *)type);
    Py_XDECREF(type);
    PyErr_Clear();
    return r;
}

static int
duck(PyObject *x, int subs)
{
    PyTypeObject *t = Py_TYPE(x);
    if (t == Exact || t == &PyFloat_Type || t == &PyLong_Type || t == &PyBool_Type ||
        x == Py_None || t == &PyUnicode_Type || t == &PyComplex_Type || t == &PySlice_Type ||
        t == &PyArray_Type)
        return 0;
    if (PyType_IsSubtype(t, &ArrayType))  /* a user's subclass: NumPy's dispatch (``subs``) */
        return subs;
    if (PyArray_Check(x))  /* a masked array: NumPy's function */
        return subs && masked(t);
    if (PyType_Check(x) || PyArray_DescrCheck(x) || PyArray_IsScalar(x, Generic))
        return 0;
    PyObject *protocol = _PyType_Lookup(t, s___array_function__);  /* (borrowed) */
    return protocol != NULL && protocol != numpy_protocol;
}

static int
any_duck(PyObject *x, int subs)
{
    if (!PyList_CheckExact(x) && !PyTuple_CheckExact(x))
        return duck(x, subs);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(x);
    for (Py_ssize_t i = 0; i < n && i < 64; i++)  /* (a list's first 64 items) */
        if (duck(PySequence_Fast_GET_ITEM(x, i), subs))
            return 1;
    return 0;
}

/* A call NumPy's function would dispatch (NEP 18): an argument, or an item of
 * a list or tuple argument, is a duck array (or, with ``subs``: a function
 * that dispatches on its arrays, not only on ``like=``, an instance of a
 * user's subclass of dagrt's ndarray); or ``like=`` is an object without
 * ``__array_function__`` (NumPy's TypeError). */
static int
ducks(PyObject *args, PyObject *kwargs, int subs)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++)
        if (any_duck(PyTuple_GET_ITEM(args, i), subs))
            return 1;
    if (kwargs == NULL)
        return 0;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(kwargs, &pos, &key, &value)) {
        if (any_duck(value, subs))
            return 1;
        if (value != Py_None && PyUnicode_CheckExact(key) &&
            PyUnicode_CompareWithASCIIString(key, "like") == 0 &&
            _PyType_Lookup(Py_TYPE(value), s___array_function__) == NULL)
            return 1;
    }
    return 0;
}

static PyObject *
Recorded_call(Recorded *self, PyObject *args, PyObject *kwargs)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (configured && self->fast == NOW && self->now != NULL && self->wrap != NULL) {
        PyObject *r = call_now(self, args, kwargs);
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    if (configured && self->fast == DRAW && self->func != NULL) {
        PyObject *r = draw_now(self, args, kwargs);
        if (r != NULL || PyErr_Occurred())
            return r;
    }
    PyObject *out = NULL;  /* ``out=`` an idle host array of the operands' shape */
    if (configured && self->fast == UFUNC && kwargs != NULL && PyDict_GET_SIZE(kwargs) == 1 &&
        (out = PyDict_GetItemWithError(kwargs, s_out)) != NULL) {
        if (PyTuple_CheckExact(out) && PyTuple_GET_SIZE(out) == 1)
            out = PyTuple_GET_ITEM(out, 0);
        PyArrayObject *o = host_storage(out);
        if (o == NULL || PyArray_NDIM(o) == 0 || !idle(((Array *)out)->var))
            out = NULL;
    }
    if (configured && self->fast == UFUNC && self->func != NULL && n == self->nin && n <= 3 &&
        (kwargs == NULL || PyDict_GET_SIZE(kwargs) == 0 || out != NULL)) {
        PyObject *values[4];
        PyArrayObject *shape = out != NULL ? (PyArrayObject *)((Array *)out)->data : NULL;
        Py_ssize_t work = shape != NULL ? PyArray_NBYTES(shape) : 0;
        int ok = 1;
        for (Py_ssize_t i = 0; i < n && ok; i++) {
            PyObject *x = PyTuple_GET_ITEM(args, i);
            PyArrayObject *d = host_array(x);
            if (d != NULL) {  /* (broadcasting: the result's bytes) */
                Py_ssize_t bytes = shape == NULL || same_shape(shape, d) ? PyArray_NBYTES(d) :
                                   broadcast_bytes(shape, d);
                ok = PyArray_NDIM(d) > 0 && bytes >= 0;
                if (shape == NULL || PyArray_NDIM(d) > PyArray_NDIM(shape))
                    shape = d;
                if (bytes > work)
                    work = bytes;
                values[i] = (PyObject *)d;
            }
            else {
                ok = is_scalar(x);
                values[i] = x;
            }
        }
        if (ok && shape == NULL && out == NULL && self->device != NULL &&
            cpu_default(self->device) && admits(0) == 1)  /* numbers only: NumPy's scalar */
            return PyObject_Vectorcall(self->func, values, n, NULL);
        int admitted = ok && shape != NULL ? admits(work) : 0;
        if (admitted == 1 && out != NULL) {  /* NumPy writes the storage: ``out`` is the result */
            values[n] = ((Array *)out)->data;
            PyObject *r = PyObject_Vectorcall(self->func, values, n, s_out_names);
            if (r == NULL)
                return NULL;
            Py_DECREF(r);
            return Py_NewRef(out);
        }
        if (admitted == 1) {
            PyObject *r = wrap(PyObject_Vectorcall(self->func, values, n, NULL));
            if (r != NULL || PyErr_Occurred())
                return r;
        }
        else if (ok && out == NULL && shape != NULL && work > 0 && !admitted) {  /* cost model's? */
            PyObject *key = PyObject_GetAttr(self->func, s___name__);
            int verdict = key != NULL ? cheap(key, work) : 0;
            if (verdict) {  /* (1: untimed, LEARNED: timed) */
                double c0 = start(verdict);
                PyObject *r = wrap(PyObject_Vectorcall(self->func, values, n, NULL));
                if (verdict == LEARNED)
                    r = learnt(r, key, work, c0);
                Py_DECREF(key);
                if (r != NULL || PyErr_Occurred())
                    return r;
            }
            else if (key == NULL)
                PyErr_Clear();
            else
                Py_DECREF(key);
        }
    }
    if ((self->flags & DISPATCH) && self->func != NULL && numpy_protocol != NULL &&
        ducks(args, kwargs, (self->flags & DISPATCH_ARRAYS) != 0))
        return PyObject_Call(self->func, args, kwargs);  /* NumPy's, which dispatches */
    if (self->call != NULL)
        return PyObject_Call(self->call, args, kwargs);
    PyObject *slow = PyObject_GetAttr((PyObject *)self, s_call);
    if (slow == NULL)
        return NULL;
    PyObject *r = PyObject_Call(slow, args, kwargs);
    Py_DECREF(slow);
    return r;
}

static int
Recorded_traverse(Recorded *self, visitproc visit, void *arg)
{
    Py_VISIT(self->func);
    Py_VISIT(self->state);
    Py_VISIT(self->device);
    Py_VISIT(self->now);
    Py_VISIT(self->refuse);
    Py_VISIT(self->wrap);
    Py_VISIT(self->call);
    return 0;
}

static int
Recorded_clear(Recorded *self)
{
    Py_CLEAR(self->func);
    Py_CLEAR(self->state);
    Py_CLEAR(self->device);
    Py_CLEAR(self->now);
    Py_CLEAR(self->call);
    Py_CLEAR(self->refuse);
    Py_CLEAR(self->wrap);
    return 0;
}

static void
Recorded_dealloc(Recorded *self)
{
    PyObject_GC_UnTrack(self);
    Recorded_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Recorded_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    return type->tp_alloc(type, 0);
}

static PyMemberDef Recorded_members[] = {
    {"__wrapped_numpy__", T_OBJECT_EX, offsetof(Recorded, func), 0, "The NumPy function."},
    {"_nin", T_PYSSIZET, offsetof(Recorded, nin), 0, "Its number of inputs."},
    {"_fast", T_INT, offsetof(Recorded, fast), 0,
     "1: a NumPy ufunc with one output; 2: a generator's draw; 0: always ``_call``."},
    {"_state", T_OBJECT_EX, offsetof(Recorded, state), 0, "A draw's generator state."},
    {"_device", T_OBJECT_EX, offsetof(Recorded, device), 0,
     "The cell of the ``device`` flag (a draw's; a NOW function's on the CPU only)."},
    {"_now", T_OBJECT_EX, offsetof(Recorded, now), 0, "NOW: the function run now."},
    {"_call", T_OBJECT_EX, offsetof(Recorded, call), 0,
     "The Python implementation, when set on the object (else the class's ``_call``)."},
    {"_refuse", T_OBJECT_EX, offsetof(Recorded, refuse), 0,
     "NOW: keywords that take ``_call``."},
    {"_wrap", T_OBJECT_EX, offsetof(Recorded, wrap), 0, "NOW: ``wrap_result``."},
    {"_flags", T_INT, offsetof(Recorded, flags), 0,
     "NOW: run_now's flags (1 tuples, 2 strict, 64 idle), 4 first argument an array, 8 no "
     "keywords, 16 first argument a list or tuple, 32 no keyword but axis, 128 eager (any "
     "size)."},
    {NULL},
};

static PyTypeObject RecordedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "dagrt.array._native.Recorded",
    .tp_doc = PyDoc_STR("The base class of dagrt's ufuncs, draws and functions run now: "
                        "the run-now case of a call."),
    .tp_basicsize = sizeof(Recorded),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_new = Recorded_new,
    .tp_dealloc = (destructor)Recorded_dealloc,
    .tp_traverse = (traverseproc)Recorded_traverse,
    .tp_clear = (inquiry)Recorded_clear,
    .tp_call = (ternaryfunc)Recorded_call,
    .tp_members = Recorded_members,
};

/* -- configure ------------------------------------------------------------ */

static int
slot_offset(PyObject *type, const char *name, Py_ssize_t *offset)
{
    PyObject *d = PyObject_GetAttrString(type, name);
    if (d == NULL)
        return -1;
    int ok = Py_IS_TYPE(d, &PyMemberDescr_Type) &&
             ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX;
    if (ok)
        *offset = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "dagrt: Var.%s is not a slot", name);
        return -1;
    }
    return 0;
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *exact, *methods, *fresh, *var_type, *engine, *policy, *view_of, *var_of;
    if (!PyArg_ParseTuple(args, "O!OOO!OOOO:configure", &PyType_Type, &exact, &methods,
                          &fresh, &PyType_Type, &var_type, &engine, &policy, &view_of,
                          &var_of))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)exact, &ArrayType)) {
        PyErr_SetString(PyExc_TypeError, "dagrt: configure() needs a subclass of Array");
        return NULL;
    }
    if (slot_offset(var_type, "n", &off_n) < 0 || slot_offset(var_type, "nw", &off_nw) < 0 ||
        slot_offset(var_type, "error", &off_error) < 0 ||
        slot_offset(var_type, "device", &off_device) < 0 ||
        slot_offset(var_type, "last_writer", &off_last_writer) < 0 ||
        slot_offset(var_type, "readers", &off_readers) < 0)
        return NULL;
    Py_INCREF(exact);
    Py_INCREF(methods);
    Py_INCREF(fresh);
    Py_INCREF(var_type);
    Py_INCREF(engine);
    Py_INCREF(policy);
    Py_INCREF(view_of);
    Py_INCREF(var_of);
    VarOf = var_of;
    Exact = (PyTypeObject *)exact;
    Methods = methods;
    Fresh = fresh;
    VarType = (PyTypeObject *)var_type;
    Engine = engine;
    Policy = policy;
    ViewOf = view_of;
    configured = 1;
    Py_RETURN_NONE;
}

static PyObject *
observe_with(PyObject *module, PyObject *args)
{
    PyObject *observed, *pkg_dir;
    if (!PyArg_ParseTuple(args, "OU:observe_with", &observed, &pkg_dir))
        return NULL;
    Py_INCREF(observed);
    Py_XSETREF(Observed, observed);
    Py_INCREF(pkg_dir);
    Py_XSETREF(PkgDir, pkg_dir);
    Py_RETURN_NONE;
}

/* view_of(base, view): ``array.ndarray.view_of``, in C for a dagrt array
 * ``base`` and a NumPy array ``view`` of its storage. */
static PyObject *
py_view_of(PyObject *module, PyObject *const *argv, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "view_of(base, view)");
        return NULL;
    }
    if (!configured || Py_TYPE(argv[0]) != Exact || !PyArray_CheckExact(argv[1]))
        return configured ? PyObject_Vectorcall(ViewOf, argv, 2, NULL) : not_configured();
    return view_of(argv[0], Py_NewRef(argv[1]));
}

/* A plain argument of a view function: a number, a string, None, a type or
 * dtype, or a tuple or list of ints (axes, a shape). */
static int
plain(PyObject *x)
{
    if (PyLong_Check(x) || PyFloat_CheckExact(x) || PyUnicode_CheckExact(x) || x == Py_None ||
        PyType_Check(x) || PyArray_DescrCheck(x))
        return 1;
    if (!PyTuple_CheckExact(x) && !PyList_CheckExact(x))
        return 0;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(x); i++)
        if (!PyLong_CheckExact(PySequence_Fast_GET_ITEM(x, i)))
            return 0;
    return 1;
}

/* ``r`` (a NumPy array) views ``a``'s storage: NumPy's view of a view has the
 * owner of the memory as its base, so ``r``'s bases reach ``a``'s storage or
 * its owner. */
static int
views(PyObject *r, Array *a)
{
    PyObject *owner = a->data, *b = PyArray_BASE((PyArrayObject *)r);
    while (PyArray_BASE((PyArrayObject *)owner) != NULL &&
           PyArray_Check(PyArray_BASE((PyArrayObject *)owner)))
        owner = PyArray_BASE((PyArrayObject *)owner);
    while (b != NULL && b != a->data && b != owner && PyArray_Check(b))
        b = PyArray_BASE((PyArrayObject *)b);
    return b != NULL && (b == a->data || b == owner);
}

/* NumPy's list or tuple ``r`` of views of ``x``'s storage (``np.split``), each
 * a dagrt view of ``x``; None if one is not such a view (new reference). */
static PyObject *
views_of(PyObject *x, PyObject *r)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(r);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(r, i);
        if (!PyArray_CheckExact(v) || !views(v, (Array *)x))
            Py_RETURN_NONE;
    }
    PyObject *out = PyList_CheckExact(r) ? PyList_New(n) : PyTuple_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *v = view_of(x, Py_NewRef(PySequence_Fast_GET_ITEM(r, i)));
        if (v == NULL) {
            Py_CLEAR(out);
            break;
        }
        if (PyList_CheckExact(out))
            PyList_SET_ITEM(out, i, v);
        else
            PyTuple_SET_ITEM(out, i, v);
    }
    if (out == NULL && !PyErr_Occurred())
        Py_RETURN_NONE;
    return out;
}

/* view_now(func, a[, args[, kwargs[, ready]]]): ``func(a's storage, *args,
 * **kwargs)`` for a function that returns a view when it can (transpose,
 * reshape, ravel, squeeze...) or a copy (copy, astype, flatten), ``a`` a
 * dagrt array on the host without error (and, if ``ready``, the default,
 * without a pending write: NumPy's copy of pending storage would read
 * unfinished values, and warn of them) and the other arguments plain: ``a``
 * itself if NumPy returned its input, a dagrt view of ``a`` if NumPy's result
 * views its storage, a new array if NumPy copied a ready ``a``; else None
 * (the Python path: arrays among the arguments, a copy of pending storage,
 * a tuple of views, a device...). */
static PyObject *
view_now(PyObject *module, PyObject *const *argv, Py_ssize_t nargs)
{
    if (nargs < 2 || nargs > 5 || (nargs > 2 && !PyTuple_Check(argv[2])) ||
        (nargs > 3 && !PyDict_Check(argv[3]))) {
        PyErr_SetString(PyExc_TypeError, "view_now(func, a[, args[, kwargs[, ready]]])");
        return NULL;
    }
    PyObject *args = nargs > 2 ? argv[2] : NULL, *kwargs = nargs > 3 ? argv[3] : NULL;
    int ready = nargs > 4 ? PyObject_IsTrue(argv[4]) : 1;
    PyObject *x = argv[1];
    Array *a = (Array *)x;
    if (!configured || Py_TYPE(x) != Exact || a->data == NULL || !PyArray_CheckExact(a->data) ||
        a->var == NULL || (a->var != Fresh && (!PyObject_TypeCheck(a->var, VarType) ||
                                               SLOT(a->var, off_error) != Py_None ||
                                               SLOT(a->var, off_device) != Py_None)) ||
        (ready && !readable(a->var)))
        Py_RETURN_NONE;
    Py_ssize_t n = args != NULL ? PyTuple_GET_SIZE(args) : 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!plain(PyTuple_GET_ITEM(args, i)))
            Py_RETURN_NONE;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (kwargs != NULL && PyDict_Next(kwargs, &pos, &key, &value))
        if (!plain(value))
            Py_RETURN_NONE;
    PyObject *stack[8];
    if (n > 7)
        Py_RETURN_NONE;
    stack[0] = a->data;
    for (Py_ssize_t i = 0; i < n; i++)
        stack[i + 1] = PyTuple_GET_ITEM(args, i);
    PyObject *kw = kwargs != NULL && PyDict_GET_SIZE(kwargs) ? kwargs : NULL;
    PyObject *r = PyObject_VectorcallDict(argv[0], stack, n + 1, kw);
    if (r == NULL)
        return NULL;  /* NumPy's error, at the call */
    if (r == a->data) {
        Py_DECREF(r);
        return Py_NewRef(x);
    }
    if ((PyList_CheckExact(r) || PyTuple_CheckExact(r)) && PySequence_Fast_GET_SIZE(r) > 0) {
        Py_SETREF(r, views_of(x, r));  /* ``split``: a list of views (or None) */
        return r;
    }
    if (!PyArray_CheckExact(r)) {
        Py_DECREF(r);
        Py_RETURN_NONE;
    }
    if (views(r, a))
        return view_of(x, r);
    /* NumPy's copy: a new array, or a view of one (a reshape of a strided view) */
    if ((PyArray_BASE((PyArrayObject *)r) == NULL || private_view((PyArrayObject *)r)) &&
        readable(a->var)) {
        Py_ssize_t work = PyArray_NBYTES((PyArrayObject *)r);
        PyObject *copy = wrap(r);  /* a copy of ready storage */
        if (copy != NULL && !admits(work) && counted(argv[0], work) < 0)
            Py_CLEAR(copy);
        return copy;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"observe_with", observe_with, METH_VARARGS,
     "observe_with(observed, PKG_DIR): how an op run here is shown to observers (a "
     "profile), and where dagrt's own code is."},
    {"run_now", (PyCFunction)(void (*)(void))run_now, METH_FASTCALL,
     "run_now(call, args, kwargs, work, also[, name[, flags]]): record's run-now case in C "
     "([array], (result,) or None: not run)."},
    {"view_of", (PyCFunction)(void (*)(void))py_view_of, METH_FASTCALL,
     "view_of(base, view): a dagrt view of base's storage."},
    {"view_now", (PyCFunction)(void (*)(void))view_now, METH_FASTCALL,
     "view_now(func, a[, args[, kwargs[, ready]]]): a view or copy function's run-now case "
     "(None: not run)."},
    {"configure", configure, METH_VARARGS,
     "configure(ndarray, methods, FRESH, Var, engine, policy, view_of, var_of): the objects "
     "the "
     "fast paths read; until called, every slot takes the Python path."},
    {NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_native",
    "The base class of dagrt.ndarray: its fields and hottest slots in C.", -1,
    module_methods,
};

#define INTERN(var, text)                                 \
    if ((var = PyUnicode_InternFromString(text)) == NULL) \
        return NULL;

PyMODINIT_FUNC
PyInit__native(void)
{
    import_array();
    INTERN(s_observers, "observers");
    INTERN(s_small, "small");
    INTERN(s_getitem, "_getitem");
    INTERN(s_out, "out");
    if ((s_out_names = PyTuple_Pack(1, s_out)) == NULL)
        return NULL;
    INTERN(s_setitem, "_setitem");
    INTERN(s_iter, "_iter");
    INTERN(s_call, "_call");
    INTERN(s___array_function__, "__array_function__");
    INTERN(s_numpy_ma, "numpy.ma");
    INTERN(s_MaskedArray, "MaskedArray");
    numpy_protocol = _PyType_Lookup(&PyArray_Type, s___array_function__);
    Py_XINCREF(numpy_protocol);
    INTERN(s_axis, "axis");
    INTERN(s___name__, "__name__");
    INTERN(s_costs, "costs");
    INTERN(s_grant, "grant");
    INTERN(s_rates, "rates");
    INTERN(s_limit, "limit");
    INTERN(s_runs, "runs");
    INTERN(s_count, "count");
    INTERN(s_observe, "observe");
    INTERN(s_exported, "_exported");
    INTERN(s_size, "size");
    INTERN(s_cpu, "cpu");
    INTERN(s_seq, "_seq");
    INTERN(s_on_ran, "on_ran");
    INTERN(s_element, "_element");
    INTERN(s___add__, "__add__");
    INTERN(s___radd__, "__radd__");
    INTERN(s___sub__, "__sub__");
    INTERN(s___rsub__, "__rsub__");
    INTERN(s___mul__, "__mul__");
    INTERN(s___rmul__, "__rmul__");
    INTERN(s___truediv__, "__truediv__");
    INTERN(s___rtruediv__, "__rtruediv__");
    INTERN(s___floordiv__, "__floordiv__");
    INTERN(s___rfloordiv__, "__rfloordiv__");
    INTERN(s___mod__, "__mod__");
    INTERN(s___rmod__, "__rmod__");
    INTERN(s___and__, "__and__");
    INTERN(s___rand__, "__rand__");
    INTERN(s___or__, "__or__");
    INTERN(s___ror__, "__ror__");
    INTERN(s___xor__, "__xor__");
    INTERN(s___rxor__, "__rxor__");
    INTERN(s___lshift__, "__lshift__");
    INTERN(s___rlshift__, "__rlshift__");
    INTERN(s___rshift__, "__rshift__");
    INTERN(s___rrshift__, "__rrshift__");
    INTERN(s___iadd__, "__iadd__");
    INTERN(s___isub__, "__isub__");
    INTERN(s___imul__, "__imul__");
    INTERN(s___itruediv__, "__itruediv__");
    INTERN(s___ifloordiv__, "__ifloordiv__");
    INTERN(s___imod__, "__imod__");
    INTERN(s___iand__, "__iand__");
    INTERN(s___ior__, "__ior__");
    INTERN(s___ixor__, "__ixor__");
    INTERN(s___ilshift__, "__ilshift__");
    INTERN(s___irshift__, "__irshift__");
    INTERN(s___pow__, "__pow__");
    INTERN(s___rpow__, "__rpow__");
    INTERN(s___ipow__, "__ipow__");
    INTERN(s___matmul__, "__matmul__");
    INTERN(s___rmatmul__, "__rmatmul__");
    INTERN(s___neg__, "__neg__");
    INTERN(s___pos__, "__pos__");
    INTERN(s___abs__, "__abs__");
    INTERN(s___invert__, "__invert__");
    static const char *compare[6] = {"__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__"};
    for (int i = 0; i < 6; i++)
        INTERN(s_compare[i], compare[i]);
    if ((minus_one = PyLong_FromLong(-1)) == NULL || (zero = PyLong_FromLong(0)) == NULL ||
        (no_kwargs = PyDict_New()) == NULL ||
        (no_also = PyTuple_New(0)) == NULL)
        return NULL;
    if (PyType_Ready(&IterType) < 0 || PyType_Ready(&ArrayType) < 0 ||
        PyType_Ready(&RecordedType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ArrayType);
    Py_INCREF(&RecordedType);
    if (PyModule_AddObject(m, "Array", (PyObject *)&ArrayType) < 0 ||
        PyModule_AddObject(m, "Recorded", (PyObject *)&RecordedType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
