/*
 * auth.h: CURVE on ingress (docs/security.md). The server's key pair is
 * read from ingress.curve_secret_key_file; a ZAP handler lets a client
 * finish the CURVE handshake only when its public key is listed in
 * ingress.authorized_keys; each notice that came over CURVE is then held
 * to the sources and audiences its key may publish to. Plain (no CURVE)
 * stays for ipc:// endpoints and, when ingress.plain_loopback is set, for
 * tcp:// endpoints on loopback addresses.
 */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "match.h"

struct config;
struct envelope_error;
struct event_base;
struct notice;

#define AUTH_KEY_BYTES		32	/* a CURVE key */
#define AUTH_KEY_Z85		40	/* the same in Z85 */
/* Longest key file read: a key, comments and blank lines. */
#define AUTH_KEY_FILE_MAX	4096
/* The name that stands for a key without one: its first Z85 characters. */
#define AUTH_NAME_DEFAULT_LEN	8

/* One entry of ingress.authorized_keys (read by config.c, immutable). */
struct auth_key {
	char			*key;		/* its public key, Z85 */
	char			*name;		/* in replies and logs */
	int			 line;
	struct glob_list	 sources;	/* sources it may publish as */
	struct glob_list	 audiences;	/* audiences it may reach */
};

struct auth_stats {
	uint64_t	handshakes_allowed;
	uint64_t	handshakes_refused;
	uint64_t	notices_refused;	/* outside their key's rights */
};

/*
 * Pure checks, shared by config.c, ingress.c, sbctl and the fuzzers.
 */
/* Whether s is a CURVE key in Z85 (40 characters); 0, or -1 and err. */
int	auth_key_check(const char *s, char *err, size_t errlen);
/*
 * The key of a key file (as sbctl keygen writes one): comment lines
 * ('#'), blank lines, and exactly one line holding the key in Z85. out gets the
 * 32 bytes. 0, or -1 with err saying what is wrong and on which line.
 */
int	auth_key_parse(const char *buf, size_t len,
	    uint8_t out[AUTH_KEY_BYTES], char *err, size_t errlen);
/*
 * Read a secret key file: a regular file, not readable by others. 0, or
 * -1 with err naming the file and the trouble.
 */
int	auth_key_file_read(const char *path, uint8_t out[AUTH_KEY_BYTES],
	    char *err, size_t errlen);
/* Whether a tcp:// endpoint's host is a loopback address. */
int	auth_endpoint_loopback(const char *endpoint);
/* Whether CURVE guards this endpoint under conf. */
int	auth_endpoint_curve(const struct config *, const char *endpoint);
/* The authorized key with this Z85 public key, or NULL. */
const struct auth_key *auth_key_find(const struct config *, const char *z85);
/*
 * Whether the key may publish the notice: its source and every audience
 * entry must match the key's globs. 0, or -1 with err filled as an
 * unauthorized reply that names what the key may do. The source of an
 * anonymous notice is never quoted back (the reply is logged).
 */
int	auth_permits(const struct auth_key *, const struct notice *,
	    struct envelope_error *err);

/*
 * The running side. auth_init reads the server key and binds the ZAP
 * handler (inproc://zeromq.zap.01) on the daemon's ZeroMQ context; it
 * must come before any CURVE endpoint is bound. Nothing is done when
 * CURVE is not configured.
 */
int	auth_init(struct event_base *, void *zctx, const struct config *,
	    char *err, size_t errlen);
void	auth_shutdown(void);
/*
 * Set up a socket for its next bind to endpoint: CURVE server with the
 * daemon's key where CURVE applies, plain otherwise; a plain tcp endpoint
 * on a non-loopback address is warned about. kind names the option
 * ("router", "pull") in messages. 0, or -1 with err.
 */
int	auth_socket_prepare(void *zsock, const struct config *,
	    const char *kind, const char *endpoint, char *err, size_t errlen);
/*
 * The per-notice check of accept.c. A message that came over CURVE
 * carries its key as the "User-Id" property of its frames (set by the
 * ZAP handler); one that did not (ipc, plain loopback) is not limited.
 * 0, or -1 with err filled (unauthorized).
 */
int	auth_check(const struct config *, const zmq_msg_t *payload,
	    const struct notice *, struct envelope_error *err);
const struct auth_stats *auth_stats(void);

#endif /* AUTH_H */
