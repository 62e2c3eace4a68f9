/*
 * jsonbuf.h: JSON written into one growing buffer, for the forms the hot
 * path writes once a notice (the canonical notice, the "ok" reply). The
 * caller writes the punctuation; string values go through
 * jsonbuf_string(), which leaves escaping to yajl.
 */
#ifndef JSONBUF_H
#define JSONBUF_H

#include <stddef.h>

#include <yajl/yajl_gen.h>

struct jsonbuf {
	char		*buf;
	size_t		 len;
	size_t		 size;
	int		 failed;	/* out of memory: finish says so */
	yajl_gen	 gen;		/* for values to escape, made lazily */
};

/* An empty buffer of size bytes at first (0 on success, -1: no memory). */
int	jsonbuf_init(struct jsonbuf *, size_t size);
/* Raw bytes, written as they are: punctuation, member names. */
void	jsonbuf_put(struct jsonbuf *, const char *);
void	jsonbuf_putn(struct jsonbuf *, const char *, size_t);
/* A whole number. */
void	jsonbuf_int(struct jsonbuf *, long long);
/* A string value, quoted and escaped. */
void	jsonbuf_string(struct jsonbuf *, const char *);
/*
 * The text (NUL-terminated, its length in *len), which the caller frees;
 * NULL if memory ran out on the way. The jsonbuf is done with either way.
 */
char	*jsonbuf_finish(struct jsonbuf *, size_t *len);

#endif /* JSONBUF_H */
