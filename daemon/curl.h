/*
 * curl.h: libcurl's multi interface driven by libevent, and what the
 * channels that speak through libcurl (webhook, smtp) share: TLS and
 * timeout options and the reading of a transfer's result.
 *
 * One multi handle per channel rather than one for the process: a multi
 * handle owns its connection cache and its connection limits, so a
 * channel's own handle makes "at most concurrency connections" a single
 * CURLMOPT_MAX_TOTAL_CONNECTIONS, keeps connections reused within the
 * channel that opened them (a slow or dead host fills only its own
 * channel's cache), and lets a stopped channel drop its connections by
 * freeing its handle. The cost is one timer event per channel.
 */
#ifndef SB_CURL_H
#define SB_CURL_H

#include <curl/curl.h>
#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

struct config_errors;
struct event_base;

struct curl_loop;

/* A transfer's end: result and, for a protocol answer, its code. */
typedef void	(*curl_loop_done_fn)(CURL *, CURLcode, void *arg);

/*
 * A multi handle on base; max_conns (> 0) caps the connections it opens
 * and keeps. NULL with err on failure.
 */
struct curl_loop *curl_loop_new(struct event_base *, int max_conns,
		    char *err, size_t errlen);
/*
 * Free the multi handle: transfers still running are removed without
 * their done callbacks being called (the caller cancels its own first).
 * Safe from inside a done callback of this loop.
 */
void		 curl_loop_free(struct curl_loop *);
/*
 * Start a transfer. done is called exactly once, later, from the event
 * loop (never from inside this call) unless curl_loop_cancel comes first.
 */
int		 curl_loop_add(struct curl_loop *, CURL *, curl_loop_done_fn,
		    void *arg);
/* Stop a running transfer; its done callback is not called. */
void		 curl_loop_cancel(struct curl_loop *, CURL *);
/* Transfers running. */
int		 curl_loop_running(const struct curl_loop *);

/* Options of a libcurl channel beside its own. */
struct curl_opts {
	int	 tls_verify;		/* default 1 */
	char	*ca_file;		/* or NULL: the system's */
	int64_t	 connect_timeout_ms;
};

/* Whether key is one of the options curl_opts_check reads. */
int	curl_opts_known(const char *key);
/* Read tls_verify, ca_file, connect_timeout from a channel group. */
int	curl_opts_check(const char *channel, const config_setting_t *,
	    struct curl_opts *, struct config_errors *);
void	curl_opts_free(struct curl_opts *);
/* Apply them and the channel's total timeout to an easy handle. */
int	curl_opts_apply(CURL *, const struct curl_opts *,
	    int64_t timeout_ms);
/* Log once at start that a channel does not verify TLS peers. */
void	curl_opts_warn(const char *channel, const struct curl_opts *);
/*
 * Whether a failed transfer (not a protocol answer) may work later:
 * connection refused, timeouts, resets and the like are worth a retry; a
 * malformed URL or an unsupported protocol is not.
 */
int	curl_result_retryable(CURLcode);

#endif /* SB_CURL_H */
