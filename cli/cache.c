/*
 * cache.c: `rocmforge cache ls|verify|clear [--cache DIR]`, the kernel cache.
 *
 *   ls      one line per entry (key, bytes, arch, kernel, compiler; a file
 *           that fails its checks says `bad: WHY` instead), then
 *           `N entries, X MiB in DIR`.
 *   verify  checks every entry's header and payload hash; one line per bad
 *           entry (`PATH: WHY`), then `N ok, M bad in DIR`; exit status 1
 *           when any is bad. Bad entries are left for the next compile to
 *           replace (or for `clear`).
 *   clear   removes the entries and the temporary files of writers that
 *           are gone, nothing else; `removed N files from DIR`.
 *
 * Everything goes to stdout; errors (an unreadable directory) to stderr.
 * DIR is --cache, else the default of codegen/cache.h.
 */
#include <string.h>

#include "cli/cli.h"
#include "codegen/cache.h"

#define CACHE_USAGE "usage: rocmforge cache ls|verify|clear [--cache DIR]"

int cmd_cache(int argc, char **argv)
{
    const char *action = NULL, *dir = NULL;
    int rc;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            puts(CACHE_USAGE "\n(docs/cli.md)");
            return 0;
        } else if (!strcmp(a, "--cache")) {
            if ((rc = cli_value("cache", argc, argv, &i, &dir)))
                return rc;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("cache: unknown option '%s'", a);
        } else if (!action) {
            action = a;
        } else {
            return cli_usage_error("cache: unexpected argument '%s'", a);
        }
    }
    if (!action)
        return cli_usage_error(CACHE_USAGE);
    if (strcmp(action, "ls") && strcmp(action, "verify") && strcmp(action, "clear"))
        return cli_usage_error("cache: '%s' is not one of ls, verify, clear", action);

    rf_error err = {0};
    cg_cache *c;
    if (cg_cache_open(dir, &c, &err) != RF_OK)
        return cli_error(&err);
    rf_status s;
    rc = 0;
    if (!strcmp(action, "ls")) {
        uint32_t n;
        uint64_t bytes;
        if ((s = cg_cache_list(c, stdout, &n, &bytes, &err)) == RF_OK)
            printf("%u entries, %.2f MiB in %s\n", n, (double)bytes / (1024.0 * 1024.0), cg_cache_dir(c));
    } else if (!strcmp(action, "verify")) {
        uint32_t ok, bad;
        if ((s = cg_cache_verify(c, stdout, &ok, &bad, &err)) == RF_OK) {
            printf("%u ok, %u bad in %s\n", ok, bad, cg_cache_dir(c));
            rc = bad ? 1 : 0;
        }
    } else {
        uint32_t n;
        if ((s = cg_cache_clear(c, &n, &err)) == RF_OK)
            printf("removed %u files from %s\n", n, cg_cache_dir(c));
    }
    cg_cache_close(c);
    if (s != RF_OK)
        return cli_error(&err);
    if (fflush(stdout) != 0 || ferror(stdout))
        return cli_usage_error("cache: writing to stdout failed");
    return rc;
}
