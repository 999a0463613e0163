/*
 * procs: /proc readers for the load tools' memory and CPU figures. It reads
 * /proc/<pid>/status (VmRSS), /proc/<pid>/smaps_rollup (Pss) and /proc/<pid>/stat (utime, stime);
 * it owns no memory beyond the caller's struct and never writes anywhere.
 */
#include "procs.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Pss (shared pages divided among their users) from smaps_rollup, in kB. */
static long read_pss_kb(int pid) {
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Pss:", 4) == 0) kb = strtol(line + 4, NULL, 10);
    fclose(f);
    return kb;
}

static long read_rss_kb(int pid) {
    char path[64], line[256];
    long kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* utime+stime in seconds and the parent pid; -1 when the process is gone. */
static double read_cpu(int pid, int *ppid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long ut = 0, st = 0;
    int pp = 0;
    /* fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
     * stime */
    if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &pp, &ut, &st) != 3)
        return -1;
    if (ppid) *ppid = pp;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int procs_sample(struct procs *p, const char *dir) {
    p->n = 0;
    if (!dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    while ((de = readdir(d)) && p->n < PROCS_MAX) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".pid") != 0) continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        int pid = 0;
        int ok = fscanf(f, "%d", &pid) == 1;
        fclose(f);
        if (!ok || pid <= 0) continue;
        struct procs_entry *e = &p->e[p->n++];
        memset(e, 0, sizeof(*e));
        snprintf(e->name, sizeof(e->name), "%.*s", (int)(l - 4), de->d_name);
        e->pid = pid;
    }
    closedir(d);
    /* one pass over /proc: each process counts for itself and for its parent */
    d = opendir("/proc");
    if (!d) return p->n;
    while ((de = readdir(d))) {
        int pid = atoi(de->d_name);
        if (pid <= 0) continue;
        int ppid = 0;
        double cpu = read_cpu(pid, &ppid);
        if (cpu < 0) continue;
        for (int i = 0; i < p->n; i++) {
            if (p->e[i].pid == pid || p->e[i].pid == ppid) {
                p->e[i].cpu_s += cpu;
                p->e[i].rss_kb += read_rss_kb(pid);
                p->e[i].pss_kb += read_pss_kb(pid);
                p->e[i].nproc++;
            }
        }
    }
    closedir(d);
    return p->n;
}

const struct procs_entry *procs_find(const struct procs *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->e[i].name, name) == 0) return &p->e[i];
    return NULL;
}
