/*
 * procs: resident memory and CPU time of the stack's processes, read from
 * /proc for the pid files in one folder (scripts/stack.sh's run/ folder).
 * A pid's direct children are counted with it, so "postgres" covers the
 * postmaster and every backend. Read-only: it never signals a process.
 */
#ifndef QW_STRESS_PROCS_H
#define QW_STRESS_PROCS_H

#define PROCS_MAX 16

struct procs_entry {
    char name[32]; /* pid file name without ".pid" */
    int pid;
    long rss_kb;  /* VmRSS of the pid and its children */
    long pss_kb;  /* Pss of the same: shared memory counted once overall */
    double cpu_s; /* utime+stime of the pid and its children */
    int nproc;    /* processes counted */
};

struct procs {
    int n;
    struct procs_entry e[PROCS_MAX];
};

/* Reads every DIR/<name>.pid and samples those processes now. Returns the
 * number of entries (0 when DIR is NULL or holds no pid file). */
int procs_sample(struct procs *p, const char *dir);

/* The entry named `name` in p, or NULL. */
const struct procs_entry *procs_find(const struct procs *p, const char *name);

#endif
