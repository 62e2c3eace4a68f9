/*
 * fuzz_acktoken.c: libFuzzer harness for ack links (SPEC section 6,
 * GET|POST /v1/ack/ID?t=TOKEN): the part of the path after /v1/ack/ and
 * the query, read as http.c reads them (evhttp_uridecode, status_id_valid,
 * evhttp_parse_query_str), then the token checked by acktoken_check.
 * Beyond not crashing or leaking, it checks the promises of a token: it
 * is 64 lower-case hex digits; the one acktoken_make gives passes; every
 * other string fails, including the right one with a digit changed or in
 * upper case, and any token under an empty secret.
 *
 * Input: the first byte is the secret's length (at most what follows),
 * then the secret, then "ID?QUERY" as it would follow /v1/ack/.
 *
 * Build and run: make fuzz, or
 *	build-fuzz/tests/fuzz/fuzz_acktoken tests/fuzz/corpus-work/acktoken \
 *	    tests/fuzz/corpus/acktoken
 */
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acktoken.h"
#include "status.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_token(const unsigned char *, size_t, const char *,
		    const char *);

/* The token promises for one secret, id and presented token. */
static void
fuzz_token(const unsigned char *secret, size_t slen, const char *id,
    const char *token)
{
	char made[ACKTOKEN_LEN + 1], bad[ACKTOKEN_LEN + 1];
	size_t i;

	if (acktoken_make(secret, slen, id, made) == -1) {
		if (slen != 0 || made[0] != '\0' ||
		    acktoken_check(secret, slen, id, token) != 0)
			abort();
		return;
	}
	if (strlen(made) != ACKTOKEN_LEN ||
	    strspn(made, "0123456789abcdef") != ACKTOKEN_LEN ||
	    acktoken_check(secret, slen, id, made) != 1)
		abort();
	if (acktoken_check(secret, slen, id, token) !=
	    (token != NULL && strcmp(token, made) == 0))
		abort();
	memcpy(bad, made, sizeof(bad));
	i = (unsigned char)id[0] % ACKTOKEN_LEN;
	bad[i] = bad[i] == '0' ? '1' : '0';
	if (acktoken_check(secret, slen, id, bad) != 0)
		abort();
	for (i = 0; i < ACKTOKEN_LEN; i++)
		bad[i] = made[i] >= 'a' ? (char)(made[i] - 'a' + 'A') :
		    made[i];
	if (strcmp(bad, made) != 0 && acktoken_check(secret, slen, id,
	    bad) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evkeyvalq params;
	const unsigned char *secret;
	char *link, *query, *id;
	size_t slen, idlen;

	if (size == 0)
		return (0);
	slen = data[0] < size - 1 ? data[0] : size - 1;
	secret = data + 1;
	if ((link = strndup((const char *)data + 1 + slen,
	    size - 1 - slen)) == NULL)
		return (0);
	if ((query = strchr(link, '?')) != NULL)
		*query++ = '\0';
	TAILQ_INIT(&params);
	if ((id = evhttp_uridecode(link, 0, &idlen)) != NULL &&
	    idlen == strlen(id) && status_id_valid(id)) {
		if (query == NULL ||
		    evhttp_parse_query_str(query, &params) == -1)
			TAILQ_INIT(&params);
		fuzz_token(secret, slen, id, evhttp_find_header(&params,
		    "t"));
	}
	evhttp_clear_headers(&params);
	free(id);
	free(link);
	return (0);
}
