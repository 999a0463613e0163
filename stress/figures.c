/*
 * figures: sort, nearest-rank percentile and rounding for the load tools'
 * distributions (see figures.h).
 */
#include "figures.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void fig_sort(double *v, size_t n) {
    if (n > 1) qsort(v, n, sizeof(double), cmp_double);
}

double fig_pct(const double *v, size_t n, double p) {
    if (n == 0) return 0;
    size_t k = (size_t)ceil(p / 100.0 * (double)n);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

double fig_round2(double x) {
    return round(x * 100.0) / 100.0;
}
