# median(list): the median of the space-separated numbers in `list` (the mean of the middle two
# for an even count). Shared by scripts/bench_pack.sh and scripts/bench_worker.sh, which add the
# program that prints their tables.
BEGIN { OFMT = "%.10g" }
function median(list,   a, m, i, j, v) {
    m = split(list, a, " ")
    for (i = 2; i <= m; i++) { v = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
