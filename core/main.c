/*
 * main.c: ferretd's command line: read the configuration, apply flags over it, run the
 * server until a signal stops it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "server/log.h"
#include "server/server.h"

/* Flags with no short form. */
#define OPTION_TTL_MONITOR_INTERVAL 256

static void usage(FILE *out);

int
main(int argc, char **argv)
{
   static const struct option options[] = {
      {"config", required_argument, NULL, 'c'},
      {"listen", required_argument, NULL, 'l'},
      {"backend", required_argument, NULL, 'b'},
      {"plugin-dir", required_argument, NULL, 'p'},
      {"workers", required_argument, NULL, 'w'},
      {"log-level", required_argument, NULL, 'L'},
      {"enable-test-commands", no_argument, NULL, 'T'},
      {"ttl-monitor-interval", required_argument, NULL, OPTION_TTL_MONITOR_INTERVAL},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'v'},
      {NULL, 0, NULL, 0},
   };
   /* Flags are applied after the file, so they win; remember them in order. */
   const char *flag_keys[16];
   const char *flag_values[16];
   int flag_count = 0;
   const char *config_path = NULL;
   fe_server_t *server = NULL;
   fe_error_t error = {0};
   int status = EXIT_FAILURE;
   int option;

   while ((option = getopt_long(argc, argv, "c:l:b:p:w:L:Thv", options, NULL)) != -1) {
      const char *key = NULL;
      const char *value = optarg;
      switch (option) {
      case 'c':
         config_path = optarg;
         break;
      case 'l':
         key = "listen";
         break;
      case 'b':
         key = "backend";
         break;
      case 'p':
         key = "plugin_dir";
         break;
      case 'w':
         key = "workers";
         break;
      case 'L':
         key = "log_level";
         break;
      case 'T':
         key = "enable_test_commands";
         value = "true";
         break;
      case OPTION_TTL_MONITOR_INTERVAL:
         key = "ttl_monitor_interval";
         break;
      case 'h':
         usage(stdout);
         return EXIT_SUCCESS;
      case 'v':
         printf("ferretd %s (MongoDB wire protocol, backend ABI %d.%d)\n", FERRET_VERSION,
                FERRET_ABI_MAJOR, FERRET_ABI_MINOR);
         return EXIT_SUCCESS;
      default:
         usage(stderr);
         return 2;
      }
      if (key && flag_count < 16) {
         flag_keys[flag_count] = key;
         flag_values[flag_count++] = value;
      }
   }
   if (optind < argc) {
      fprintf(stderr, "ferretd: unexpected argument '%s'\n", argv[optind]);
      usage(stderr);
      return 2;
   }

   server = calloc(1, sizeof *server);
   if (!server) {
      fprintf(stderr, "ferretd: out of memory\n");
      return EXIT_FAILURE;
   }
   config_init(&server->config);
   if (config_path && !config_load_file(&server->config, config_path, &error)) {
      goto done;
   }
   for (int i = 0; i < flag_count; i++) {
      if (!config_set(&server->config, flag_keys[i], flag_values[i], "command line", 0, &error)) {
         goto done;
      }
   }
   log_set_level((log_level_t) server->config.log_level);
   if (!server_start(server, &error)) {
      goto done;
   }
   server_run(server);
   status = EXIT_SUCCESS;

done:
   if (error.code) {
      log_write(LOG_ERROR, "server", "%s", error.message);
      fprintf(stderr, "ferretd: %s\n", error.message);
   }
   server_destroy(server);
   free(server);
   return status;
}

static void
usage(FILE *out)
{
   fprintf(out,
           "usage: ferretd [--config FILE] [--listen HOST:PORT] [--backend NAME|PATH]\n"
           "               [--plugin-dir DIR[:DIR...]] [--workers N] [--log-level LEVEL]\n"
           "               [--enable-test-commands] [--ttl-monitor-interval SECONDS]\n"
           "\n"
           "A MongoDB-compatible server storing documents through a backend plugin.\n"
           "\n"
           "  -c, --config FILE        read settings from FILE (INI: key = value, [section])\n"
           "  -l, --listen HOST:PORT   address to listen on (default 127.0.0.1:27017)\n"
           "  -b, --backend NAME       backend name or path to its .so (default sqlite)\n"
           "  -p, --plugin-dir DIRS    where backends are found (default %s)\n"
           "  -w, --workers N          worker threads (default: one per core)\n"
           "  -L, --log-level LEVEL    debug, info, warning or error (default info)\n"
           "  -T, --enable-test-commands\n"
           "                           allow configureFailPoint, for drivers' test suites\n"
           "      --ttl-monitor-interval SECONDS\n"
           "                           seconds between TTL index passes (default 60; 0: off)\n"
           "  -h, --help               show this help\n"
           "  -v, --version            show the version\n",
           FERRET_BACKEND_DIR);
}
