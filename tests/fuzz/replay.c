/*
 * replay.c: the harnesses of tests/fuzz/ without libFuzzer. Linked with a
 * fuzz_NAME.c in place of libFuzzer's main, it feeds every file named on
 * the command line, and every file in every directory named, once to
 * LLVMFuzzerTestOneInput; `make fuzz-replay` (part of `make check`) runs
 * each seed corpus this way under ASan and UBSan with gcc, so that an
 * input that once crashed a parser stays a regression test. A harness
 * aborts on any broken promise; so does this on an empty corpus, which
 * would prove nothing.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	replay_file(const char *, size_t *);
static int	replay_dir(const char *, size_t *);
static int	replay_skip(const struct dirent *);

int
main(int argc, char **argv)
{
	struct stat sb;
	size_t n = 0;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR ...\n", argv[0]);
		return (2);
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &sb) == -1) {
			fprintf(stderr, "%s: %s: %s\n", argv[0], argv[i],
			    strerror(errno));
			return (1);
		}
		if ((S_ISDIR(sb.st_mode) ? replay_dir(argv[i], &n) :
		    replay_file(argv[i], &n)) == -1)
			return (1);
	}
	if (n == 0) {
		fprintf(stderr, "%s: no input to replay\n", argv[0]);
		return (1);
	}
	printf("%s: %zu inputs replayed\n", argv[0], n);
	return (0);
}

/* Hidden files (editors' leftovers) are not inputs. */
static int
replay_skip(const struct dirent *d)
{
	return (d->d_name[0] != '.');
}

static int
replay_dir(const char *dir, size_t *n)
{
	struct dirent **names;
	char path[4096];
	int i, count, rc = 0;

	if ((count = scandir(dir, &names, replay_skip, alphasort)) == -1) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return (-1);
	}
	for (i = 0; i < count; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (rc == 0 && replay_file(path, n) == -1)
			rc = -1;
		free(names[i]);
	}
	free(names);
	return (rc);
}

/* The input in a buffer of its exact size, so ASan sees any overread. */
static int
replay_file(const char *path, size_t *n)
{
	uint8_t *buf;
	long size;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) == -1 ||
	    (size = ftell(f)) == -1 || fseek(f, 0, SEEK_SET) == -1) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return (-1);
	}
	if ((buf = malloc(size > 0 ? (size_t)size : 1)) == NULL ||
	    fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(buf);
		fclose(f);
		return (-1);
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	free(buf);
	(*n)++;
	return (0);
}
