/*
 * fault_alloc.c: allocation failures never crash the server, leak, corrupt a reply or lose an
 * acknowledged write (STYLE.md rule 17, tests/fault/README.md).
 *
 * The executable is linked with -Wl,--wrap for malloc, calloc, realloc, aligned_alloc, strdup
 * and strndup, so every call the core static library makes to them comes here first, and
 * libevent's allocations come here through event_set_mem_functions(); calls inside libbson,
 * libpcre2 and the backend do not. A failure in libevent may cost the connection (the
 * server cannot buffer the request or the reply); the next connection must work. For each command
 * of the set in harness.c it runs the command once to learn the normal reply, then for N = 1, 2,
 * ... reseeds the database, fails the Nth allocation of the command, and checks the outcome: a
 * reply arrives (no crash, no hang, the connection stays open), it is either the normal reply or a
 * well-formed error, the writes it acknowledged are there, and the connection still answers ping.
 * The loop ends at the first N the command completes without reaching. AddressSanitizer reports any
 * leak at exit.
 *
 * libbson's allocator is not failed: bson_malloc() aborts the process when its allocator
 * returns NULL, by design, so the core may rely on it never failing.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "harness.h"

/* A command that allocates more than this is a runaway; the loop gives up on it. */
#define MAX_ALLOCATIONS 20000

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *ptr, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
char *__real_strdup(const char *text);
char *__real_strndup(const char *text, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
char *__wrap_strdup(const char *text);
char *__wrap_strndup(const char *text, size_t size);

/* The hook's state. The harness runs the worker's loop on this thread, so no locking. */
static long fail_at;     /* 0: disarmed; else the allocation to fail, counting from 1 */
static long allocations; /* allocations counted since arming */
static bool injected;    /* the Nth allocation happened and was failed */
static bool in_libevent; /* ... and it was libevent's */

static bool
fail_now(void)
{
   if (fail_at == 0) {
      return false;
   }
   if (++allocations == fail_at) {
      injected = true;
      return true;
   }
   return false;
}

/* libevent's allocations (buffers of the connection) count too, through its hook. */
static void *
event_malloc(size_t size)
{
   if (fail_now()) {
      in_libevent = true;
      return NULL;
   }
   return __real_malloc(size);
}

static void *
event_realloc(void *ptr, size_t size)
{
   if (fail_now()) {
      in_libevent = true;
      return NULL;
   }
   return __real_realloc(ptr, size);
}

static void
event_mem_free(void *ptr)
{
   free(ptr);
}

void *
__wrap_malloc(size_t size)
{
   return fail_now() ? NULL : __real_malloc(size);
}

void *
__wrap_calloc(size_t count, size_t size)
{
   return fail_now() ? NULL : __real_calloc(count, size);
}

void *
__wrap_realloc(void *ptr, size_t size)
{
   return fail_now() ? NULL : __real_realloc(ptr, size);
}

void *
__wrap_aligned_alloc(size_t alignment, size_t size)
{
   return fail_now() ? NULL : __real_aligned_alloc(alignment, size);
}

char *
__wrap_strdup(const char *text)
{
   return fail_now() ? NULL : __real_strdup(text);
}

char *
__wrap_strndup(const char *text, size_t size)
{
   return fail_now() ? NULL : __real_strndup(text, size);
}

static void
arm(long n)
{
   allocations = 0;
   injected = false;
   in_libevent = false;
   fail_at = n;
}

static void
disarm(void)
{
   fail_at = 0;
}

/* Runs c with the Nth allocation failing until it completes untouched. Returns failures. */
static int
run_case(fh_t *h, const fh_case_t *c)
{
   fh_run_t run;
   bson_t reply;
   int32_t code;
   char why[512];
   char *normal;
   int failures = 0;
   long n;
   int errors = 0;
   int closed = 0;

   fh_seed(h);
   fh_run_prepare(h, c, &run);
   if (fh_run_send(h, &run, &reply) != FH_REPLY) {
      fprintf(stderr, "%s: no reply without faults\n", c->name);
      exit(1);
   }
   normal = fh_normalize(&reply);
   bson_destroy(&reply);
   fh_run_destroy(&run);

   for (n = 1; n <= MAX_ALLOCATIONS; n++) {
      fh_result_t result;
      fh_kind_t kind;
      char *got;
      bool untouched;

      fh_seed(h);
      fh_run_prepare(h, c, &run);
      arm(n);
      result = fh_run_send(h, &run, &reply);
      disarm();
      untouched = !injected;
      if (result != FH_REPLY) {
         /* Without memory for the connection's buffers the server may drop the connection,
          * never anything else; the next connection must work. */
         if (result != FH_CLOSED || !in_libevent) {
            fprintf(stderr, "%s: allocation %ld failed: %s\n", c->name, n,
                    result == FH_CLOSED ? "connection closed" : "no reply");
            failures++;
         } else {
            closed++;
         }
         fh_run_destroy(&run);
         bson_destroy(&reply);
         if (!fh_connect(h) || !fh_alive(h)) {
            fprintf(stderr, "%s: allocation %ld failed: cannot connect afterwards\n", c->name, n);
            exit(1);
         }
         continue;
      }
      kind = fh_classify(&reply, &code, why, sizeof why);
      got = fh_normalize(&reply);
      if (kind == FH_MALFORMED) {
         fprintf(stderr, "%s: allocation %ld failed: malformed reply (%s): %s\n", c->name, n, why,
                 got);
         failures++;
      } else if (strcmp(got, normal) != 0) {
         if (untouched || kind == FH_OK) {
            /* A reply that claims success but differs from the normal one is corrupt. */
            fprintf(stderr, "%s: allocation %ld failed: reply differs\n  got:  %s\n  want: %s\n",
                    c->name, n, got, normal);
            failures++;
         } else {
            errors++;
         }
      }
      if (c->verify && !c->verify(h, &run, &reply, why, sizeof why)) {
         fprintf(stderr, "%s: allocation %ld failed: %s\n", c->name, n, why);
         failures++;
      }
      if (!fh_alive(h)) {
         fprintf(stderr, "%s: allocation %ld failed: the connection stopped answering\n", c->name,
                 n);
         failures++;
         if (!fh_connect(h)) {
            exit(1);
         }
      }
      bson_free(got);
      bson_destroy(&reply);
      fh_run_destroy(&run);
      if (untouched) {
         break;
      }
   }
   if (n > MAX_ALLOCATIONS) {
      fprintf(stderr, "%s: still allocating after %d allocations\n", c->name, MAX_ALLOCATIONS);
      failures++;
   }
   printf("%-28s %4ld allocations, %4d error replies, %3d closed, %d failures\n", c->name, n - 1,
          errors, closed, failures);
   bson_free(normal);
   return failures;
}

/* Accepting a connection: a failed allocation refuses it cleanly, and the next one works. */
static int
run_accept(fh_t *h)
{
   int failures = 0;
   long n;

   for (n = 1; n <= MAX_ALLOCATIONS; n++) {
      bool connected;
      bool untouched;

      arm(n);
      connected = fh_connect(h);
      disarm();
      untouched = !injected;
      if (connected && !fh_alive(h)) {
         fprintf(stderr, "accept: allocation %ld failed: an adopted connection does not answer\n",
                 n);
         failures++;
      }
      if (!connected && (untouched || !fh_connect(h) || !fh_alive(h))) {
         fprintf(stderr, "accept: allocation %ld failed: cannot connect afterwards\n", n);
         failures++;
      }
      if (untouched) {
         break;
      }
   }
   printf("%-28s %4ld allocations, %d failures\n", "accept", n - 1, failures);
   return failures;
}

int
main(int argc, char **argv)
{
   fh_t *h;
   int failures = 0;
   const char *only = argc > 2 ? argv[2] : NULL;

   if (argc < 2) {
      fprintf(stderr, "usage: %s BACKEND.so [CASE]\n", argv[0]);
      return 2;
   }
   /* Before any other libevent call, as libevent requires. */
   event_set_mem_functions(event_malloc, event_realloc, event_mem_free);
   h = fh_open(argv[1], NULL, 0);
   if (!only || strcmp(only, "accept") == 0) {
      failures += run_accept(h);
   }
   for (const fh_case_t *c = fh_cases; c->name; c++) {
      if (!only || strcmp(only, c->name) == 0) {
         failures += run_case(h, c);
      }
   }
   fh_close(h);
   printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
   return failures ? 1 : 0;
}
