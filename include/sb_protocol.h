/*
 * sb_protocol.h: the wire protocol (v1) and the status protocol, shared by
 * switchboardd and the tools so that they cannot disagree.
 */
#ifndef SB_PROTOCOL_H
#define SB_PROTOCOL_H

#define SB_VERSION		"0.1.0"
#define SB_PROTOCOL_VERSION	1

#define SB_DEFAULT_CONFIG	"conf/switchboard.conf"
#define SB_DEFAULT_ENDPOINT	"tcp://127.0.0.1:7450"
#define SB_DEFAULT_MAX_MESSAGE	65536

/* Limits of SPEC §2.1. */
#define SB_ID_MAX		128
#define SB_SOURCE_MAX		64
#define SB_AUDIENCE_MAX		64
#define SB_SUBJECT_MAX		256	/* characters, not bytes */
#define SB_TAGS_MAX		32
#define SB_BY_MAX		64

/* Reply error codes (SPEC §2.3). The order is fixed: metrics index by it. */
enum sb_error {
	SB_OK = 0,
	SB_ERR_BAD_JSON,
	SB_ERR_TOO_LARGE,
	SB_ERR_MISSING_FIELD,
	SB_ERR_INVALID_FIELD,
	SB_ERR_UNKNOWN_TYPE,
	SB_ERR_NO_ROUTE,
	SB_ERR_RATE_LIMITED,
	SB_ERR_UNAUTHORIZED,
	SB_ERR_UNKNOWN_REF,
	SB_ERR_ALREADY_ACKED,
	SB_ERR_UNAVAILABLE,
	SB_ERR_COUNT
};

static inline const char *
sb_error_name(enum sb_error e)
{
	static const char *const names[SB_ERR_COUNT] = {
		"ok", "bad_json", "too_large", "missing_field",
		"invalid_field", "unknown_type", "no_route", "rate_limited",
		"unauthorized", "unknown_ref", "already_acked", "unavailable",
	};
	return ((unsigned)e < SB_ERR_COUNT ? names[e] : "unknown");
}

#endif /* SB_PROTOCOL_H */
