/*
 * bench/loadgen.h: what the C load generators (bench/pop3-client.c, bench/smtp-client.c) share:
 * the monotonic clock and the process's own CPU time, in seconds. Header-only (static
 * functions); each generator is one translation unit built by bench/lib/child.ts buildC().
 */
#ifndef POSTERN_LOADGEN_H
#define POSTERN_LOADGEN_H
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}
#endif
