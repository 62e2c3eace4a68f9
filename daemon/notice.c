/*
 * notice.c: a notice's life (new, ref, unref), its broker-assigned id, its
 * canonical JSON form and the names of its vocabulary.
 */
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "jsonbuf.h"
#include "log.h"
#include "notice.h"

static void	notice_free(struct notice *);
static void	notice_id_random(uint8_t *, size_t);
static void	notice_id_format(char *, uint64_t, const uint8_t *);
static void	notice_json_member(struct jsonbuf *, const char *,
		    const char *);
static void	notice_json_body(struct jsonbuf *, const struct notice *);
static int	notice_name_lookup(const char *const *, int, const char *,
		    size_t);
static int64_t	notice_now_ms(void);

static const char *const notice_class_names[CLASS_COUNT] = {
	"realtime", "batch", "interactive"
};
static const char *const notice_priority_names[PRIORITY_COUNT] = {
	"low", "normal", "high", "urgent"
};
static const char *const notice_goal_names[GOAL_COUNT] = {
	"inform", "collect", "resolve", "relate"
};
static const char *const notice_audience_kind_names[AUDIENCE_COUNT] = {
	"staff", "dept", "role", "group", "mgmt", "customer", "partner",
	"public"
};

/* Crockford's base32: no I, L, O, U; in ASCII order, so ids sort as text. */
static const char notice_base32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/*
 * The last id made: the next one in the same millisecond is this one plus
 * one, so that ids are strictly increasing within the process.
 */
static pthread_mutex_t	 notice_id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t		 notice_id_ms;
static uint8_t		 notice_id_rand[10];

struct notice *
notice_new(void)
{
	struct notice *n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return (NULL);
	n->priority = PRIORITY_NORMAL;
	n->goal = GOAL_INFORM;
	n->class_hint = CLASS_NONE;
	n->class = CLASS_NONE;
	n->refs = 1;
	return (n);
}

void
notice_ref(struct notice *n)
{
	n->refs++;
}

void
notice_unref(struct notice *n)
{
	if (n == NULL)
		return;
	if (--n->refs > 0)
		return;
	notice_free(n);
}

/* Free a notice and every string it owns. */
static void
notice_free(struct notice *n)
{
	size_t i;

	free(n->source);
	for (i = 0; i < n->naudience; i++)
		free(n->audience[i]);
	free(n->audience);
	free(n->subject);
	free(n->body);
	for (i = 0; i < n->ntags; i++) {
		free(n->tags[i].key);
		free(n->tags[i].value);
	}
	free(n->tags);
	free(n->json);
	free(n);
}

const char *
notice_tag(const struct notice *n, const char *key)
{
	size_t i;

	for (i = 0; i < n->ntags; i++)
		if (strcmp(n->tags[i].key, key) == 0)
			return (n->tags[i].value);
	return (NULL);
}

/* Wall clock in ms since the epoch. */
static int64_t
notice_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/*
 * Random bytes from getrandom(), drawn 256 at a time so that a busy broker
 * makes one system call per 25 new milliseconds, not one per id.
 */
static void
notice_id_random(uint8_t *out, size_t len)
{
	static uint8_t pool[256];
	static size_t left;
	ssize_t got;

	if (left < len) {
		do
			got = getrandom(pool, sizeof(pool), 0);
		while (got == -1 && errno == EINTR);
		if (got != (ssize_t)sizeof(pool))
			fatal("getrandom");
		left = sizeof(pool);
	}
	memcpy(out, pool + sizeof(pool) - left, len);
	left -= len;
}

/* "n-" and a ULID: 48 bits of ms, then 80 random bits, 5 bits a letter. */
static void
notice_id_format(char *id, uint64_t ms, const uint8_t *rand)
{
	char *p = id;
	int i, bits;
	uint32_t acc;
	size_t r;

	*p++ = 'n';
	*p++ = '-';
	/* 10 letters carry 50 bits: the first two are always zero. */
	for (i = 9; i >= 0; i--)
		*p++ = notice_base32[(ms >> (i * 5)) & 31];
	acc = 0;
	bits = 0;
	for (r = 0; r < 10; r++) {
		acc = (acc << 8) | rand[r];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			*p++ = notice_base32[(acc >> bits) & 31];
		}
	}
	*p = '\0';
}

void
notice_assign_id(struct notice *n)
{
	uint64_t now = (uint64_t)notice_now_ms();
	int i;

	pthread_mutex_lock(&notice_id_lock);
	if (now > notice_id_ms) {
		notice_id_ms = now;
		notice_id_random(notice_id_rand, sizeof(notice_id_rand));
	} else {
		/*
		 * Same millisecond, or the clock stepped back: count up
		 * from the last id. If the 80 bits wrap (they never
		 * should), borrow the next millisecond.
		 */
		for (i = 9; i >= 0; i--)
			if (++notice_id_rand[i] != 0)
				break;
		if (i < 0)
			notice_id_ms++;
	}
	notice_id_format(n->id, notice_id_ms, notice_id_rand);
	pthread_mutex_unlock(&notice_id_lock);
	n->id_assigned = 1;
}

/* "name":"value" (key is "\"name\":"), after a comma unless it is first. */
static void
notice_json_member(struct jsonbuf *jb, const char *key, const char *value)
{
	if (jb->len > 1)
		jsonbuf_putn(jb, ",", 1);
	jsonbuf_put(jb, key);
	jsonbuf_string(jb, value);
}

/*
 * gmtime and strftime once a second, not once a notice (a thread's own
 * copy: notices are encoded on the loop and by tools).
 */
void
notice_time_format(int64_t when_ms, char *out, size_t len)
{
	static _Thread_local int64_t	 cached_sec = INT64_MIN;
	static _Thread_local char	 cached[24];
	struct tm tm;
	time_t sec;
	int64_t ms;
	size_t clen;

	/* Floor division: a time before 1970 still prints its own ms. */
	sec = (time_t)(when_ms / 1000);
	ms = when_ms % 1000;
	if (ms < 0) {
		ms += 1000;
		sec--;
	}
	if ((int64_t)sec != cached_sec) {
		/* A year past 99999 (a damaged spool row) does not fit. */
		if (gmtime_r(&sec, &tm) == NULL || strftime(cached,
		    sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			cached[0] = '\0';
		cached_sec = (int64_t)sec;
	}
	/* ".mmmZ" by hand: snprintf cost as much as the rest of the time. */
	clen = strlen(cached);
	if (clen != 19 || clen + 6 > len) {	/* not YYYY-MM-DDTHH:MM:SS */
		snprintf(out, len, "%lld ms", (long long)when_ms);
		return;
	}
	memcpy(out, cached, clen);
	out[clen] = '.';
	out[clen + 1] = (char)('0' + ms / 100);
	out[clen + 2] = (char)('0' + ms / 10 % 10);
	out[clen + 3] = (char)('0' + ms % 10);
	out[clen + 4] = 'Z';
	out[clen + 5] = '\0';
}

/* The members of the canonical form, in their documented order. */
static void
notice_json_body(struct jsonbuf *jb, const struct notice *n)
{
	char when[32], dur[32];
	size_t i;

	if (n->id[0] != '\0')
		notice_json_member(jb, "\"id\":", n->id);
	if (n->class != CLASS_NONE)
		notice_json_member(jb, "\"class\":",
		    notice_class_name(n->class));
	/* Anonymity: the source never reaches a channel or the spool. */
	if (!n->anonymous && n->source != NULL)
		notice_json_member(jb, "\"source\":", n->source);
	jsonbuf_put(jb, jb->len > 1 ? ",\"audience\":[" : "\"audience\":[");
	for (i = 0; i < n->naudience; i++) {
		if (i > 0)
			jsonbuf_put(jb, ",");
		jsonbuf_string(jb, n->audience[i]);
	}
	jsonbuf_put(jb, "]");
	notice_json_member(jb, "\"subject\":", n->subject != NULL ?
	    n->subject : "");
	if (n->body != NULL)
		notice_json_member(jb, "\"body\":", n->body);
	notice_json_member(jb, "\"priority\":",
	    notice_priority_name(n->priority));
	notice_json_member(jb, "\"goal\":", notice_goal_name(n->goal));
	if (n->respond_within_ms > 0) {
		duration_format(n->respond_within_ms, dur, sizeof(dur));
		notice_json_member(jb, "\"respond_within\":", dur);
	}
	if (n->ntags > 0) {
		jsonbuf_put(jb, ",\"tags\":{");
		for (i = 0; i < n->ntags; i++) {
			if (i > 0)
				jsonbuf_put(jb, ",");
			jsonbuf_string(jb, n->tags[i].key);
			jsonbuf_put(jb, ":");
			jsonbuf_string(jb, n->tags[i].value);
		}
		jsonbuf_put(jb, "}");
	}
	if (n->anonymous)
		jsonbuf_put(jb, ",\"anonymous\":true");
	notice_time_format(n->received_ms, when, sizeof(when));
	notice_json_member(jb, "\"received_at\":", when);
}

/* The parsed fields take about as much as the canonical JSON. */
size_t
notice_held_bytes(const struct notice *n)
{
	return (sizeof(*n) + 2 * n->json_len);
}

int
notice_encode(struct notice *n)
{
	struct jsonbuf jb;
	size_t len;
	char *json;

	/* Most notices fit in the first buffer: one allocation. */
	if (jsonbuf_init(&jb, 512 + (n->body != NULL ? strlen(n->body) : 0)) ==
	    -1)
		return (-1);
	jsonbuf_put(&jb, "{");
	notice_json_body(&jb, n);
	jsonbuf_put(&jb, "}");
	if ((json = jsonbuf_finish(&jb, &len)) == NULL)
		return (-1);
	free(n->json);
	n->json = json;
	n->json_len = len;
	return (0);
}

const char *
notice_class_name(enum notice_class c)
{
	if (c == CLASS_NONE)
		return ("none");
	if ((unsigned)c >= CLASS_COUNT)
		return ("unknown");
	return (notice_class_names[c]);
}

const char *
notice_priority_name(enum notice_priority p)
{
	if ((unsigned)p >= PRIORITY_COUNT)
		return ("unknown");
	return (notice_priority_names[p]);
}

const char *
notice_goal_name(enum notice_goal g)
{
	if ((unsigned)g >= GOAL_COUNT)
		return ("unknown");
	return (notice_goal_names[g]);
}

const char *
notice_audience_kind_name(enum audience_kind k)
{
	if ((unsigned)k >= AUDIENCE_COUNT)
		return ("unknown");
	return (notice_audience_kind_names[k]);
}

/* The index of s (len bytes, not NUL-terminated) in names, or -1. */
static int
notice_name_lookup(const char *const *names, int n, const char *s,
    size_t len)
{
	int i;

	for (i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return (i);
	return (-1);
}

int
notice_class_parse(const char *s)
{
	return (notice_name_lookup(notice_class_names, CLASS_COUNT, s,
	    strlen(s)));
}

int
notice_priority_parse(const char *s)
{
	return (notice_name_lookup(notice_priority_names, PRIORITY_COUNT, s,
	    strlen(s)));
}

int
notice_goal_parse(const char *s)
{
	return (notice_name_lookup(notice_goal_names, GOAL_COUNT, s,
	    strlen(s)));
}

int
notice_audience_kind_parse(const char *s, size_t len)
{
	return (notice_name_lookup(notice_audience_kind_names,
	    AUDIENCE_COUNT, s, len));
}

/* Append a tag; the notice owns the copies. */
static int
notice_add_tag(struct notice *n, const char *key, const char *value)
{
	struct notice_tag *t;

	if (value == NULL || *value == '\0')
		return (0);
	t = reallocarray(n->tags, n->ntags + 1, sizeof(*t));
	if (t == NULL)
		return (-1);
	n->tags = t;
	t = &n->tags[n->ntags];
	if ((t->key = strdup(key)) == NULL)
		return (-1);
	if ((t->value = strdup(value)) == NULL) {
		free(t->key);
		return (-1);
	}
	if (strlen(t->value) > 256)
		t->value[256] = '\0';	/* ids and names: ASCII */
	n->ntags++;
	return (0);
}

/*
 * A notice of the daemon's own (to channel owners): realtime, source
 * "switchboard", audience role:owners, the event and what it concerns in
 * tags. Returns it with id and json set, or NULL.
 */
struct notice *
notice_new_internal(const char *event, const char *ref, const char *owners,
    const char *subject, const char *body)
{
	struct notice *n;
	struct timespec ts;

	if ((n = notice_new()) == NULL)
		return (NULL);
	n->source = strdup("switchboard");
	n->audience = calloc(1, sizeof(*n->audience));
	if (n->audience != NULL &&
	    (n->audience[0] = strdup("role:owners")) != NULL)
		n->naudience = 1;
	n->subject = strndup(subject, SB_SUBJECT_MAX);
	n->body = body != NULL ? strdup(body) : NULL;
	n->priority = PRIORITY_HIGH;
	n->class = CLASS_REALTIME;
	clock_gettime(CLOCK_REALTIME, &ts);
	n->received_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	notice_assign_id(n);
	if (n->source == NULL || n->naudience != 1 || n->subject == NULL ||
	    (body != NULL && n->body == NULL) ||
	    notice_add_tag(n, "event", event) == -1 ||
	    notice_add_tag(n, "ref", ref) == -1 ||
	    notice_add_tag(n, "owners", owners) == -1 ||
	    notice_encode(n) == -1) {
		notice_unref(n);
		return (NULL);
	}
	return (n);
}
