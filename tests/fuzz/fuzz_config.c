/*
 * fuzz_config.c: libFuzzer harness for the config loader (config_load:
 * libconfig's parser, the option table walker, the adapters' checks,
 * authorized_keys, routes, escalations, limits). A config is an admin's,
 * but a reload must never crash or leak the running daemon whatever the
 * file holds, and `switchboardd -t` must explain every refusal. So beyond
 * not crashing or leaking it checks: a refused file has at least one
 * error, each naming the file first ("FILE:LINE: ..." or "FILE: ..."); an
 * accepted one holds together (every index in range, every required
 * thing there).
 *
 * The input is written to a memfd and loaded through /proc/self/fd/N.
 * Inputs with an @include are skipped: libconfig would read whatever file
 * the input names, which tests the machine rather than the parser.
 *
 * Build and run: make fuzz (or FUZZ_SECONDS=600 make fuzz), or by hand
 * with the objects of build-fuzz/libsb.a:
 *	build-fuzz/tests/fuzz/fuzz_config -dict=tests/fuzz/config.dict \
 *	    tests/fuzz/corpus-work/config tests/fuzz/corpus/config
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check_errors(const struct config_errors *,
		    const char *);
static void	fuzz_check_names(const int *, size_t, size_t);
static void	fuzz_check_config(const struct config *);

static void
fuzz_check_errors(const struct config_errors *errs, const char *path)
{
	size_t i, len = strlen(path);

	if (errs->n == 0)
		abort();
	for (i = 0; i < errs->n; i++)
		if (strncmp(errs->msgs[i], path, len) != 0 ||
		    errs->msgs[i][len] != ':')
			abort();
}

/* Channel indices, each in range and named once. */
static void
fuzz_check_names(const int *idx, size_t n, size_t nchannels)
{
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (idx[i] < 0 || (size_t)idx[i] >= nchannels)
			abort();
		for (j = 0; j < i; j++)
			if (idx[i] == idx[j])
				abort();
	}
}

static void
fuzz_check_config(const struct config *cf)
{
	const struct auth_key *k;
	size_t i, j;

	if (cf->nrouter + cf->npull == 0 || cf->nroutes == 0)
		abort();
	for (i = 0; i < cf->nchannels; i++) {
		if (cf->channels[i].name == NULL || cf->channels[i].ops == NULL)
			abort();
		fuzz_check_names(cf->channels[i].fallback,
		    cf->channels[i].nfallback, cf->nchannels);
	}
	for (i = 0; i < cf->nroutes; i++) {
		if (cf->routes[i].name == NULL || cf->routes[i].nchannels == 0)
			abort();
		fuzz_check_names(cf->routes[i].channels,
		    cf->routes[i].nchannels, cf->nchannels);
		fuzz_check_names(cf->routes[i].fallback,
		    cf->routes[i].nfallback, cf->nchannels);
	}
	for (i = 0; i < cf->nescalations; i++)
		for (j = 0; j < cf->escalations[i].nlevels; j++)
			fuzz_check_names(cf->escalations[i].levels[j].channels,
			    cf->escalations[i].levels[j].nchannels,
			    cf->nchannels);
	if ((cf->curve_secret_key_file == NULL) != (cf->nauth_keys == 0))
		abort();
	for (i = 0; i < cf->nauth_keys; i++) {
		k = &cf->auth_keys[i];
		if (k->key == NULL || strlen(k->key) != AUTH_KEY_Z85 ||
		    k->name == NULL || k->sources.n == 0 ||
		    k->audiences.n == 0 || auth_key_find(cf, k->key) != k)
			abort();
	}
	if (cf->group != NULL && cf->user == NULL)
		abort();
	if (cf->owner_channel_name != NULL && (cf->owner_channel < 0 ||
	    (size_t)cf->owner_channel >= cf->nchannels))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	static int fd = -1;
	struct config_errors errs;
	struct config *cf;

	if (fd == -1) {
		log_init("fuzz_config", LOG_LEVEL_ERROR);
		if ((fd = memfd_create("fuzz_config", MFD_CLOEXEC)) == -1)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (memmem(data, size, "@include", 8) != NULL)
		return (0);
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	memset(&errs, 0, sizeof(errs));
	if ((cf = config_load(path, &errs)) != NULL) {
		if (errs.n != 0)
			abort();
		fuzz_check_config(cf);
		config_free(cf);
	} else
		fuzz_check_errors(&errs, path);
	config_errors_clear(&errs);
	return (0);
}
