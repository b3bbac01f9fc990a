/*
 * bench/pop3-client.c: the POP3 load generator of bench/pop3.ts (one thread, epoll, non-blocking
 * sockets; it must not be the bottleneck, so it prints its own CPU time).
 *
 *   pop3-client sessions PORT CLIENTS SECONDS USERFMT USERS PASSWORD [PIPELINE]
 *     CLIENTS connections at a time, each running full sessions one after another:
 *     greeting, USER <USERFMT with i>, PASS, STAT, LIST, RETR 1..n (n from STAT), QUIT.
 *     PIPELINE (default 1, at most 64): RETRs are sent PIPELINE at a time in one write (the
 *     server advertises PIPELINING, RFC 2449), the next batch once all their responses are in.
 *     Users i are taken round-robin from 1..USERS (USERFMT e.g. "u%03d@bench.example").
 *     Runs SECONDS, then stops starting commands and reports what completed in that window.
 *   pop3-client idle PORT N USERFMT USERS PASSWORD
 *     opens N sessions (at most 200 logging in at a time), logs each in, prints
 *     {"ready":N,...} and holds them until its standard input closes.
 *
 * Connections go to 127.0.0.1:PORT from the source addresses 127.0.0.2 … 127.0.0.9 in turn, so
 * no source runs out of ephemeral ports. Commands are not pipelined (as most clients do).
 * Output: one JSON line: sessions, messages, bytes, errors, elapsed_s, cpu_s.
 * Build: cc -O2 -o pop3-client pop3-client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include "loadgen.h"

enum step { GREETING, USER, PASS, STAT, LIST, RETR, QUIT, IDLE, DONE };

struct conn {
  int fd;
  enum step step;
  int user;
  int nmsg;       /* from STAT */
  int next;       /* next RETR number */
  int inflight;   /* RETRs sent whose responses are not complete */
  int multi;      /* the response in progress is multi-line */
  int first_done; /* its first line is complete */
  int err;        /* it began with -ERR */
  char tail[8];
  int tail_len;
  char line[512];
  int line_len;
};

static int port, users, idle_mode, pipeline = 1;
static const char *password, *userfmt;
static long sessions, messages, errors;
static long long bytes;
static int epfd, user_ix, stopping, open_conns;

static int start_conn(struct conn *c) {
  memset(c, 0, sizeof *c);
  c->fd = connect_from_next_source(port);
  if (c->fd < 0) return -1;
  c->step = GREETING;
  c->user = 1 + (user_ix++ % users);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  open_conns++;
  return 0;
}

static void close_conn(struct conn *c) {
  if (c->fd >= 0) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    open_conns--;
  }
}

static void send_cmd(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_cmd(struct conn *c, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  c->first_done = 0;
  c->err = 0;
  c->tail_len = 0;
  c->line_len = 0;
  if (write(c->fd, buf, n) != n) errors++; /* tiny writes to a fresh socket buffer */
}

/* Ready for the next response without sending anything (a pipelined RETR). */
static void next_response(struct conn *c) {
  c->first_done = 0;
  c->err = 0;
  c->tail_len = 0;
  c->line_len = 0;
}

/* The response to the current command is complete: act on it. */
static void advance(struct conn *c) {
  if (c->err) {
    errors++;
    close_conn(c);
    return;
  }
  switch (c->step) {
    case GREETING:
      c->step = USER;
      {
        char name[128];
        snprintf(name, sizeof name, userfmt, c->user);
        send_cmd(c, "USER %s\r\n", name);
      }
      break;
    case USER:
      c->step = PASS;
      send_cmd(c, "PASS %s\r\n", password);
      break;
    case PASS:
      if (idle_mode) { c->step = IDLE; sessions++; return; }
      c->step = STAT;
      send_cmd(c, "STAT\r\n");
      break;
    case STAT:
      c->nmsg = atoi(c->line + 4);
      c->next = 1;
      c->step = LIST;
      c->multi = 1;
      send_cmd(c, "LIST\r\n");
      break;
    case LIST:
    case RETR:
      if (c->step == RETR) {
        if (!stopping) messages++;
        if (--c->inflight > 0) {
          next_response(c);
          break;
        }
      }
      if (!stopping && c->next <= c->nmsg) {
        char buf[64 * 24];
        int len = 0;
        c->step = RETR;
        c->multi = 1;
        for (int k = 0; k < pipeline && c->next <= c->nmsg; k++) {
          len += snprintf(buf + len, sizeof buf - len, "RETR %d\r\n", c->next++);
          c->inflight++;
        }
        send_cmd(c, "%s", buf);
      } else {
        c->step = QUIT;
        c->multi = 0;
        send_cmd(c, "QUIT\r\n");
      }
      break;
    case QUIT:
      if (!stopping) sessions++; /* only what completed inside the window counts */
      close_conn(c);
      break;
    default:
      break;
  }
}

/* Consume what arrived: responses may follow one another in one read (pipelined RETRs). A
 * multi-line response ends at "\n.\r\n" (a body line of "." is sent stuffed as ".."), searched
 * across reads with the last 3 bytes kept in `tail`. */
static void on_data(struct conn *c, const char *p, ssize_t n) {
  if (!stopping) bytes += n;
  ssize_t i = 0;
  while (i < n && c->fd >= 0) {
    if (!c->first_done) {
      for (; i < n; i++) {
        if (c->line_len < (int)sizeof c->line - 1) c->line[c->line_len++] = p[i];
        if (p[i] == '\n') {
          c->line[c->line_len] = 0;
          c->first_done = 1;
          c->err = c->line[0] != '+';
          i++;
          break;
        }
      }
      if (!c->first_done) return;
      if (!c->multi || c->err) {
        advance(c);
        continue;
      }
      /* the first line's LF may start the terminator of an empty listing */
      c->tail[0] = '\n';
      c->tail_len = 1;
    }
    ssize_t end = -1;
    if (c->tail_len > 0) {
      char b[8];
      int bl = c->tail_len;
      memcpy(b, c->tail, bl);
      int take = n - i < 3 ? (int)(n - i) : 3;
      memcpy(b + bl, p + i, take);
      char *m = memmem(b, bl + take, "\n.\r\n", 4);
      if (m != NULL) end = i + (m - b) + 4 - c->tail_len;
    }
    if (end < 0) {
      char *m = memmem(p + i, n - i, "\n.\r\n", 4);
      if (m != NULL) end = (m - p) + 4;
    }
    if (end >= 0) {
      c->tail_len = 0;
      i = end;
      advance(c);
      continue;
    }
    if (n - i >= 3) {
      memcpy(c->tail, p + n - 3, 3);
      c->tail_len = 3;
    } else {
      for (ssize_t k = i; k < n; k++) {
        if (c->tail_len == 3) { memmove(c->tail, c->tail + 1, 2); c->tail_len = 2; }
        c->tail[c->tail_len++] = p[k];
      }
    }
    return;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  idle_mode = strcmp(argv[1], "idle") == 0;
  int nconns;
  double seconds = 0;
  if (idle_mode) {
    if (argc != 7) return 2;
    port = atoi(argv[2]);
    nconns = atoi(argv[3]);
    userfmt = argv[4];
    users = atoi(argv[5]);
    password = argv[6];
  } else {
    if (argc != 8 && argc != 9) return 2;
    port = atoi(argv[2]);
    nconns = atoi(argv[3]);
    seconds = atof(argv[4]);
    userfmt = argv[5];
    users = atoi(argv[6]);
    password = argv[7];
    if (argc == 9) pipeline = atoi(argv[8]);
    if (pipeline < 1) pipeline = 1;
    if (pipeline > 64) pipeline = 64;
  }
  epfd = epoll_create1(0);
  struct conn *conns = calloc(nconns, sizeof *conns);
  int max_connecting = idle_mode ? 200 : nconns;
  int started = 0;
  for (int k = 0; k < nconns; k++) conns[k].fd = -1;
  double t0 = now_s(), c0 = cpu_s();
  double deadline = t0 + (idle_mode ? 300 : seconds);
  struct epoll_event evs[256];
  for (;;) {
    double t = now_s();
    if (!idle_mode && !stopping && t >= deadline) stopping = 1;
    if (idle_mode && t >= deadline) break;
    if (idle_mode) {
      while (started < nconns && open_conns - (int)sessions < max_connecting) {
        if (start_conn(&conns[started]) < 0) errors++;
        started++;
      }
      if (started == nconns && open_conns == sessions) break;
    } else if (!stopping) {
      for (int k = 0; k < nconns; k++)
        if (conns[k].fd < 0 && start_conn(&conns[k]) < 0) errors++;
    }
    if (stopping && open_conns == 0) break;
    if (stopping && t >= deadline + 10) break; /* sessions still open 10 s after: give up */
    int n = epoll_wait(epfd, evs, 256, 100);
    for (int k = 0; k < n; k++) {
      struct conn *c = evs[k].data.ptr;
      char buf[65536];
      for (;;) {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r > 0) {
          on_data(c, buf, r);
          if (c->fd < 0 || r < (ssize_t)sizeof buf) break;
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
          if (c->step != QUIT || !c->first_done) errors++;
          close_conn(c);
        }
        break;
      }
    }
  }
  double elapsed = (idle_mode ? now_s() : deadline) - t0;
  if (idle_mode) {
    printf("{\"ready\":%ld,\"errors\":%ld,\"elapsed_s\":%.3f,\"cpu_s\":%.3f}\n", sessions, errors, now_s() - t0, cpu_s() - c0);
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof b) > 0) {}
    return 0;
  }
  for (int k = 0; k < nconns; k++) close_conn(&conns[k]);
  printf("{\"sessions\":%ld,\"messages\":%ld,\"bytes\":%lld,\"errors\":%ld,\"elapsed_s\":%.3f,\"cpu_s\":%.3f}\n", sessions, messages, bytes, errors, elapsed, cpu_s() - c0);
  return 0;
}
