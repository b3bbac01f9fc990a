/*
 * bench/loadgen.h: what the C load generators (bench/pop3-client.c, bench/smtp-client.c) share:
 * the monotonic clock and the process's own CPU time, in seconds; a non-blocking connection to
 * 127.0.0.1:port from 127.0.0.2 … 127.0.0.9 in turn (so no source address runs out of ports). Header-only (static
 * functions); each generator is one translation unit built by bench/lib/child.ts buildC().
 */
#ifndef POSTERN_LOADGEN_H
#define POSTERN_LOADGEN_H
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* A non-blocking TCP socket (TCP_NODELAY) bound to the next of 127.0.0.2 … 127.0.0.9, its
 * connect to 127.0.0.1:port under way; -1 when socket, bind or connect failed. */
static int connect_from_next_source(int port) {
  static int source_ix;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in src = {.sin_family = AF_INET};
  char ip[16];
  snprintf(ip, sizeof ip, "127.0.0.%d", 2 + (source_ix++ % 8));
  inet_pton(AF_INET, ip, &src.sin_addr);
  if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
    close(fd);
    return -1;
  }
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}
#endif
