/*
 * bench/smtp-client.c: the pipelining SMTP load generator of bench/smtp.ts (one thread, epoll,
 * non-blocking sockets; it must not be the bottleneck, so it prints its own CPU time).
 * Postfix's smtp-source waits for each reply; this client pipelines as RFC 2920 allows.
 *
 *   smtp-client PORT SESSIONS MESSAGES SECONDS PAYLOAD FROM RCPT
 *     SESSIONS persistent sessions to 127.0.0.1:PORT, each: greeting, EHLO, then message after
 *     message: "MAIL FROM:<FROM>", "RCPT TO:<RCPT>" and "DATA" in one write (one pipelined
 *     group), the three replies read (250, 250, 354), then the message (a short header and
 *     PAYLOAD bytes of text in 78-byte lines, dot-terminated) in one write, its 250 read; then
 *     the next message. Sessions stop starting messages once MESSAGES have been started in
 *     all or SECONDS have passed, then send QUIT.
 *
 * Connections come from the source addresses 127.0.0.2 … 127.0.0.9 in turn. A reply other than
 * the one expected (a 4xx/5xx) counts as an error; the session then sends RSET and goes on.
 * Output: one JSON line: sessions, messages (accepted: 250 after the dot), errors, elapsed_s
 * (first connect to last 250), cpu_s (this process's user + system time).
 * Build: cc -O2 -o smtp-client smtp-client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "loadgen.h"

/* what the session waits for */
enum step { GREETING, EHLO, GROUP, BODY, RSET, QUIT, DONE };

struct conn {
  int fd;
  enum step step;
  int want;       /* replies still expected in this step */
  int bad;        /* one of them was not 2xx/3xx */
  char line[1024];
  int line_len;
  const char *out; /* unsent output (a partial write) */
  size_t out_len;
};

static int port;
static long target, started, accepted, errors, nsessions;
static double deadline, t0, t_last;
static int epfd, open_conns;
static char group[1024];
static size_t group_len;
static char *body;
static size_t body_len;

static void close_conn(struct conn *c) {
  if (c->fd < 0) return;
  epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->step = DONE;
  open_conns--;
}

/* Write what is pending; wait for EPOLLOUT when the socket buffer is full. */
static void flush_out(struct conn *c) {
  while (c->out_len > 0) {
    ssize_t n = write(c->fd, c->out, c->out_len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
        epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        return;
      }
      errors++;
      close_conn(c);
      return;
    }
    c->out += n;
    c->out_len -= (size_t)n;
  }
}

static void send_out(struct conn *c, const char *p, size_t n, enum step step, int want) {
  c->step = step;
  c->want = want;
  c->bad = 0;
  c->out = p;
  c->out_len = n;
  flush_out(c);
}

/* Start the next message, or say goodbye. */
static void next_message(struct conn *c) {
  if (started >= target || now_s() >= deadline) {
    send_out(c, "QUIT\r\n", 6, QUIT, 1);
    return;
  }
  started++;
  send_out(c, group, group_len, GROUP, 3);
}

/* Every reply the step waited for has come. */
static void advance(struct conn *c) {
  switch (c->step) {
  case GREETING:
    if (c->bad) break;
    send_out(c, "EHLO loadgen.example\r\n", 22, EHLO, 1);
    return;
  case EHLO:
    if (c->bad) break;
    next_message(c);
    return;
  case GROUP:
    if (c->bad) { /* a refusal in the group: the DATA was refused too */
      errors++;
      send_out(c, "RSET\r\n", 6, RSET, 1);
      return;
    }
    send_out(c, body, body_len, BODY, 1);
    return;
  case BODY:
    if (c->bad) errors++;
    else {
      accepted++;
      t_last = now_s();
    }
    next_message(c);
    return;
  case RSET:
    if (c->bad) break;
    next_message(c);
    return;
  default:
    close_conn(c);
    return;
  }
  errors++;
  close_conn(c);
}

/* One complete reply line. */
static void on_line(struct conn *c) {
  if (c->line_len < 4 || c->line[3] == '-') return; /* a continuation line */
  if (c->line[0] != '2' && c->line[0] != '3') c->bad = 1;
  if (--c->want == 0) advance(c);
}

static void on_readable(struct conn *c) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
      if (c->step != QUIT) errors++;
      close_conn(c);
      return;
    }
    if (n < 0) return;
    for (ssize_t i = 0; i < n && c->fd >= 0; i++) {
      char ch = buf[i];
      if (ch == '\n') {
        on_line(c);
        c->line_len = 0;
      } else if (c->line_len < (int)sizeof c->line - 1) c->line[c->line_len++] = ch;
    }
    if (c->fd < 0 || n < (ssize_t)sizeof buf) return;
  }
}

static int start_conn(struct conn *c) {
  memset(c, 0, sizeof *c);
  c->fd = connect_from_next_source(port);
  if (c->fd < 0) return -1;
  c->step = GREETING;
  c->want = 1;
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
  open_conns++;
  return 0;
}

/* The message: a short header, then `payload` bytes of text in lines, then the dot. */
static void build_body(long payload, const char *from, const char *rcpt) {
  body = malloc((size_t)payload + 1024);
  int n = sprintf(body, "From: <%s>\r\nTo: <%s>\r\nSubject: bench\r\nMessage-ID: <bench@loadgen.example>\r\n\r\n", from, rcpt);
  static const char filler[] = "La de da de da 1. La de da de da 2. La de da de da 3. La de da de da 4. La de";
  long left = payload;
  while (left > 0) {
    long k = left > 78 ? 76 : left - 2;
    if (k < 0) k = 0;
    memcpy(body + n, filler, (size_t)k);
    n += (int)k;
    body[n++] = '\r';
    body[n++] = '\n';
    left -= k + 2;
  }
  n += sprintf(body + n, ".\r\n");
  body_len = (size_t)n;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: smtp-client PORT SESSIONS MESSAGES SECONDS PAYLOAD FROM RCPT\n");
    return 2;
  }
  port = atoi(argv[1]);
  nsessions = atol(argv[2]);
  target = atol(argv[3]);
  double seconds = atof(argv[4]);
  build_body(atol(argv[5]), argv[6], argv[7]);
  group_len = (size_t)snprintf(group, sizeof group, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", argv[6], argv[7]);
  epfd = epoll_create1(0);
  struct conn *conns = calloc((size_t)nsessions, sizeof *conns);
  double c0 = cpu_s();
  t0 = now_s();
  t_last = t0;
  deadline = t0 + seconds;
  for (long i = 0; i < nsessions; i++) {
    if (start_conn(&conns[i]) < 0) {
      conns[i].fd = -1;
      errors++;
    }
  }
  struct epoll_event evs[256];
  while (open_conns > 0) {
    int n = epoll_wait(epfd, evs, 256, 1000);
    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      if (c->fd < 0) continue;
      if (evs[i].events & EPOLLOUT) {
        flush_out(c);
        if (c->fd >= 0 && c->out_len == 0) {
          struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
          epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
      }
      if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
    }
    if (now_s() > deadline + 30) break; /* a server that stopped answering */
  }
  printf("{\"sessions\":%ld,\"messages\":%ld,\"errors\":%ld,\"elapsed_s\":%.3f,\"cpu_s\":%.3f}\n", nsessions, accepted, errors, t_last - t0, cpu_s() - c0);
  return 0;
}
