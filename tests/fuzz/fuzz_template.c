/*
 * fuzz_template.c: libFuzzer harness for the template parser (templates
 * come from the config, which an admin writes; a reload must never crash
 * the daemon on one). Beyond not crashing or leaking, it checks promises:
 * a compiled template renders; with every value empty it renders to its
 * literal text, which is never longer than the source; what it says it
 * uses, it renders (a marker value shows up); and the line escaper leaves
 * no control character, nor the Slack one a raw '<', '>' or '&' from a
 * value.
 *
 * Build and run:
 *	clang -g -O1 -D_GNU_SOURCE -Iinclude -Idaemon \
 *	    $(pkg-config --cflags libevent libbsd-overlay) \
 *	    -fsanitize=fuzzer,address,undefined \
 *	    tests/fuzz/fuzz_template.c daemon/template.c \
 *	    $(pkg-config --libs libevent libbsd-overlay) -o fuzz_template
 *	./fuzz_template -max_len=512 tests/fuzz/corpus/template
 */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static size_t	fuzz_render(const struct template *, const char *const *,
		    template_escape_fn, char **);

/* Render into a malloc'd string; aborts on failure. */
static size_t
fuzz_render(const struct template *t, const char *const *values,
    template_escape_fn escape, char **out)
{
	struct evbuffer *b;
	size_t len;

	if ((b = evbuffer_new()) == NULL ||
	    template_render(t, values, escape, b) != 0)
		abort();
	len = evbuffer_get_length(b);
	if ((*out = malloc(len + 1)) == NULL)
		abort();
	evbuffer_remove(b, *out, len);
	(*out)[len] = '\0';
	evbuffer_free(b);
	return (len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char marker[] = "\x01<M&>\n";
	const char *empty[TF_COUNT] = { NULL }, *marked[TF_COUNT];
	struct template *t;
	char err[512], *text, *out;
	size_t len, i;
	int f, uses = 0;

	if ((text = malloc(size + 1)) == NULL)
		return (0);
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	if ((t = template_compile(text, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();	/* a refusal always says why */
		free(text);
		return (0);
	}
	len = fuzz_render(t, empty, template_escape_none, &out);
	if (len > strlen(text))
		abort();
	free(out);
	for (f = 0; f < TF_COUNT; f++) {
		marked[f] = marker;
		uses += template_uses(t, f);
	}
	len = fuzz_render(t, marked, template_escape_none, &out);
	if (uses > 0 && strstr(out, marker) == NULL)
		abort();
	free(out);
	len = fuzz_render(t, marked, template_escape_line, &out);
	if (uses > 0 && strstr(out, " <M&> ") == NULL)
		abort();
	free(out);
	len = fuzz_render(t, marked, template_escape_slack, &out);
	if (uses > 0 && strstr(out, "\x01&lt;M&amp;&gt;\n") == NULL)
		abort();
	for (i = 0; uses > 0 && i < len; i++)
		if (strncmp(out + i, "<M&>", 4) == 0 && strstr(text, "<M&>") ==
		    NULL)
			abort();
	free(out);
	template_free(t);
	free(text);
	return (0);
}
