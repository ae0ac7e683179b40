/*
 * libFuzzer harness for the native RDB scanner (src/stategate/native/rdbscan.c),
 * built with AddressSanitizer and UndefinedBehaviorSanitizer by scripts/fuzz_rdbscan.sh.
 *
 * The scanner is compiled into this binary as is (#include) and driven through its
 * Python entry point scan(fd, sink, memory_limit) in an embedded interpreter, so the
 * fuzzed path is the shipped one: each input is read from a memfd (a regular file,
 * whose length bounds declared lengths) or, every other run, through a pipe (length
 * unknown), with JSON lines going to a sink. A crash, a sanitizer report or a leak of
 * the scanner's own buffers ends the run; a clean RDBError is a normal outcome.
 */
#define _GNU_SOURCE
#include "../../src/stategate/native/rdbscan.c"

#include <sys/mman.h>

static PyObject *fuzz_module, *scan_fn, *sink;
static unsigned long runs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    Py_InitializeEx(0);
    fuzz_module = PyInit_rdbscan();
    PyObject *builtins = PyImport_ImportModule("builtins");
    sink = builtins ? PyObject_GetAttrString(builtins, "len") : NULL; /* len(chunk): a sink */
    scan_fn = fuzz_module ? PyObject_GetAttrString(fuzz_module, "scan") : NULL;
    if (!fuzz_module || !sink || !scan_fn) {
        PyErr_Print();
        abort();
    }
    return 0;
}

static int input_fd(const uint8_t *data, size_t size) {
    /* a pipe holds 64 KiB without a reader: larger inputs always go through a file */
    if (runs++ % 2 && size <= 65536) {
        int p[2];
        if (pipe(p)) abort();
        if (size && write(p[1], data, size) != (ssize_t)size) abort();
        close(p[1]);
        return p[0];
    }
    int fd = memfd_create("rdb", 0);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    lseek(fd, 0, SEEK_SET);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = input_fd(data, size);
    /* a 32 MiB budget: the limit itself is fuzzed, not only inputs that stay below it */
    PyObject *r = PyObject_CallFunction(scan_fn, "iOn", fd, sink, (Py_ssize_t)(32 << 20));
    if (r) {
        Py_DECREF(r);
    } else if (PyErr_ExceptionMatches(RDBError)) {
        PyErr_Clear();
    } else {
        PyErr_Print(); /* anything but RDBError (MemoryError, SystemError) is a finding */
        abort();
    }
    close(fd);
    return 0;
}
