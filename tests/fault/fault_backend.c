/*
 * fault_backend.c: backend failures surface as the right MongoDB error, and the connection,
 * the server and every acknowledged write survive them (STYLE.md rule 17,
 * tests/fault/README.md).
 *
 *    fault_backend FAULTY.so TARGET.so [CASE]
 *
 * Loads the fault-injecting backend (faulty_backend.c) wrapped around TARGET.so through the
 * core's loader. For each command of the set in harness.c it counts the backend calls the
 * command makes, then for each call K and each status that call's method may return
 * (include/ferret/backend.h) it reseeds the database, fails call K with that status, and
 * checks the outcome: a reply arrives, and it is either the normal reply (the core retried or
 * the status meant something it handles) or an error carrying the code docs/rfc/0003 maps the
 * status to, at top level or in writeErrors; the writes the reply acknowledged are there;
 * the connection still answers ping.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faulty_backend.h"
#include "harness.h"

static fault_backend_control_t *control;

/* docs/rfc/0003-errors.md, written out here so that the test checks the table, not the
 * function that implements it. */
static int32_t
expected_code(ferret_status_t status)
{
   switch (status) {
   case FERRET_ERR_NAMESPACE_NOT_FOUND:
      return 26;
   case FERRET_ERR_NAMESPACE_EXISTS:
      return 48;
   case FERRET_ERR_DUPLICATE_KEY:
      return 11000;
   case FERRET_ERR_INVALID_NAME:
      return 73;
   case FERRET_ERR_UNSUPPORTED:
      return 115;
   case FERRET_ERR_TOO_LARGE:
      return 10334;
   case FERRET_ERR_UNAVAILABLE:
      return 6;
   case FERRET_ERR_WRITE_CONFLICT:
      return 112;
   default:
      return 1;
   }
}

static const char *
status_name(ferret_status_t status)
{
   static const char *const names[] = {
      "OK",
      "NAMESPACE_NOT_FOUND",
      "NAMESPACE_EXISTS",
      "DUPLICATE_KEY",
      "INVALID_NAME",
      "UNSUPPORTED",
      "TOO_LARGE",
      "UNAVAILABLE",
      "NO_MEMORY",
      "INTERNAL",
      "PLAN_UNUSABLE",
      "WRITE_CONFLICT",
   };
   return (size_t) status < sizeof names / sizeof names[0] ? names[status] : "?";
}

/* The reply's code, or any of its writeErrors' codes, is code. */
static bool
has_code(const bson_t *reply, int32_t code)
{
   bson_iter_t iter;
   bson_iter_t errors;

   if (bson_iter_init_find(&iter, reply, "code") && BSON_ITER_HOLDS_INT32(&iter) &&
       bson_iter_int32(&iter) == code) {
      return true;
   }
   if (bson_iter_init_find(&iter, reply, "writeErrors") && bson_iter_recurse(&iter, &errors)) {
      while (bson_iter_next(&errors)) {
         bson_iter_t entry;
         if (bson_iter_recurse(&errors, &entry) && bson_iter_find(&entry, "code") &&
             BSON_ITER_HOLDS_INT32(&entry) && bson_iter_int32(&entry) == code) {
            return true;
         }
      }
   }
   return false;
}

static void
arm(long k, ferret_status_t status)
{
   control->calls = 0;
   memset(control->seen, 0, sizeof control->seen);
   control->injected = false;
   control->status = status;
   control->fail_at = k;
}

static void
disarm(void)
{
   control->fail_at = 0;
}

/* One run with call k failing with status. Returns failures. */
static int
run_one(fh_t *h, const fh_case_t *c, const char *normal, long k, fault_method_t method,
        ferret_status_t status, int *errors)
{
   fh_run_t run;
   bson_t reply;
   int32_t code;
   char why[512];
   char *got = NULL;
   fh_result_t result;
   fh_kind_t kind;
   int failures = 0;
   const char *what = fault_method_names[method];

   fh_seed(h);
   fh_run_prepare(h, c, &run);
   arm(k, status);
   result = fh_run_send(h, &run, &reply);
   disarm();
   if (result != FH_REPLY) {
      fprintf(stderr, "%s: call %ld (%s) failing with %s: %s\n", c->name, k, what,
              status_name(status), result == FH_CLOSED ? "connection closed" : "no reply");
      failures++;
      if (!fh_connect(h)) {
         exit(1);
      }
      goto done;
   }
   kind = fh_classify(&reply, &code, why, sizeof why);
   got = fh_normalize(&reply);
   if (kind == FH_MALFORMED) {
      fprintf(stderr, "%s: call %ld (%s) failing with %s: malformed reply (%s): %s\n", c->name, k,
              what, status_name(status), why, got);
      failures++;
   } else if (strcmp(got, normal) != 0) {
      if (kind == FH_OK || !control->injected) {
         fprintf(stderr,
                 "%s: call %ld (%s) failing with %s: reply differs\n  got:  %s\n  want: %s\n",
                 c->name, k, what, status_name(status), got, normal);
         failures++;
      } else if (!has_code(&reply, expected_code(status))) {
         fprintf(stderr, "%s: call %ld (%s) failing with %s: no code %d: %s\n", c->name, k, what,
                 status_name(status), expected_code(status), got);
         failures++;
      } else {
         (*errors)++;
      }
   }
   if (c->verify && !c->verify(h, &run, &reply, why, sizeof why)) {
      fprintf(stderr, "%s: call %ld (%s) failing with %s: %s\n", c->name, k, what,
              status_name(status), why);
      failures++;
   }
   if (!fh_alive(h)) {
      fprintf(stderr, "%s: call %ld (%s) failing with %s: the connection stopped answering\n",
              c->name, k, what, status_name(status));
      failures++;
      if (!fh_connect(h)) {
         exit(1);
      }
   }

done:
   bson_free(got);
   bson_destroy(&reply);
   fh_run_destroy(&run);
   return failures;
}

static int
run_case(fh_t *h, const fh_case_t *c)
{
   fh_run_t run;
   bson_t reply;
   char *normal;
   long calls;
   fault_method_t trace[FAULT_TRACE_SIZE];
   int failures = 0;
   int errors = 0;
   int runs = 0;

   /* Count the calls, failing none. */
   fh_seed(h);
   fh_run_prepare(h, c, &run);
   arm(LONG_MAX, FERRET_OK);
   if (fh_run_send(h, &run, &reply) != FH_REPLY) {
      fprintf(stderr, "%s: no reply without faults\n", c->name);
      exit(1);
   }
   disarm();
   calls = control->calls < FAULT_TRACE_SIZE ? control->calls : FAULT_TRACE_SIZE;
   memcpy(trace, control->trace, (size_t) calls * sizeof *trace);
   normal = fh_normalize(&reply);
   bson_destroy(&reply);
   fh_run_destroy(&run);

   for (long k = 1; k <= calls; k++) {
      fault_method_t method = trace[k - 1];
      for (const ferret_status_t *s = fault_allowed[method]; *s != FERRET_OK; s++) {
         failures += run_one(h, c, normal, k, method, *s, &errors);
         runs++;
      }
   }
   printf("%-28s %4ld backend calls, %4d runs, %4d error replies, %d failures\n", c->name, calls,
          runs, errors, failures);
   bson_free(normal);
   return failures;
}

int
main(int argc, char **argv)
{
   fh_t *h;
   int failures = 0;
   ferret_config_item_t item = {"target", NULL, "fault_backend", 1};
   void *handle;
   fault_backend_control_fn get_control;
   const char *only = argc > 3 ? argv[3] : NULL;

   if (argc < 3) {
      fprintf(stderr, "usage: %s FAULTY.so TARGET.so [CASE]\n", argv[0]);
      return 2;
   }
   item.value = argv[2];
   h = fh_open(argv[1], &item, 1);
   /* The loader opened it RTLD_LOCAL; NOLOAD hands back the same object. */
   handle = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
   get_control =
      handle ? (fault_backend_control_fn) (uintptr_t) dlsym(handle, "fault_backend_control") : NULL;
   if (!get_control) {
      fprintf(stderr, "%s has no fault_backend_control\n", argv[1]);
      return 2;
   }
   control = get_control();
   for (const fh_case_t *c = fh_cases; c->name; c++) {
      if (!only || strcmp(only, c->name) == 0) {
         failures += run_case(h, c);
      }
   }
   dlclose(handle);
   fh_close(h);
   printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
   return failures ? 1 : 0;
}
