/*
 * mime.h: one plain-text mail as RFC 5322 and MIME want it: CRLF lines,
 * headers folded, a non-ASCII subject and display name as RFC 2047 encoded
 * words, a UTF-8 text/plain body (7bit when it can be, base64 otherwise).
 */
#ifndef MIME_H
#define MIME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define MIME_HEADERS_MAX	8

struct mime_message {
	const char		*from_name;	/* UTF-8 or NULL */
	const char		*from_addr;
	const char *const	*to;		/* addresses for the header */
	size_t			 nto;
	const char		*subject;	/* UTF-8, one line */
	const char		*body;		/* UTF-8 */
	int64_t			 date_ms;	/* wall clock */
	const char		*message_id;	/* "local@domain" */
	/* Further headers: ASCII names and values (values made one line). */
	const char		*hname[MIME_HEADERS_MAX];
	const char		*hvalue[MIME_HEADERS_MAX];
	size_t			 nheaders;
};

/* The whole message, malloc'd; NULL when out of memory. */
char	*mime_build(const struct mime_message *, size_t *len);
/* "Name: value" with value RFC 2047 encoded when it must be, folded. */
int	 mime_header_encoded(struct evbuffer *, const char *name,
	    const char *value);
/* RFC 5322 date-time in UTC: "Tue, 26 Nov 2024 19:34:02 +0000". */
void	 mime_date(int64_t ms, char *buf, size_t len);
/* Whether s is a plain addr-spec "local@domain" we are willing to send. */
int	 mime_address_valid(const char *s);

#endif /* MIME_H */
