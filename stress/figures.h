/*
 * figures: the distributions the load tools print (latencies in ms): one
 * sort, one percentile rule (nearest rank) and one rounding, shared by the
 * lecture-hall run (loadgen.c) and the district (district.c).
 */
#ifndef QW_STRESS_FIGURES_H
#define QW_STRESS_FIGURES_H

#include <stddef.h>

/* Sorts v[0..n) ascending, for fig_pct. */
void fig_sort(double *v, size_t n);

/* The p-th percentile (0 < p <= 100) of sorted v[0..n) by nearest rank;
 * 0 when n is 0. */
double fig_pct(const double *v, size_t n, double p);

/* x rounded to two decimals, for the JSON lines. */
double fig_round2(double x);

#endif
